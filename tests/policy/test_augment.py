"""openpi's training augmentation: where a pixel goes under crop and rotation, what the colour
jitter does to it, and which cameras keep their geometry."""

import math

import pytest
import torch

from lerobot_policy.augment import CROP_SCALE, ImageAugmentation, color_jitter, crop_and_rotate

SIDE = 112


def dot_image(row: int, col: int) -> torch.Tensor:
    image = torch.zeros(1, 3, SIDE, SIDE)
    image[0, :, row - 1 : row + 2, col - 1 : col + 2] = 1.0
    return image


def centre_of_mass(image: torch.Tensor) -> tuple[float, float]:
    """Of a dot on a uniform background, which the colour jitter may lift."""
    weight = image[0, 0] - image[0, 0].min()
    rows, cols = torch.meshgrid(torch.arange(SIDE, dtype=torch.float32), torch.arange(SIDE, dtype=torch.float32),
                                indexing="ij")  # fmt: skip
    return float((weight * rows).sum() / weight.sum()), float((weight * cols).sum() / weight.sum())


def from_centre(row: float, col: float) -> tuple[float, float]:
    middle = (SIDE - 1) / 2
    return row - middle, col - middle


def test_a_centred_crop_enlarges_the_picture_about_its_middle():
    row, col = centre_of_mass(crop_and_rotate(dot_image(56, 86), torch.zeros(1, 2), torch.zeros(1)))
    (dy, dx), (dy0, dx0) = from_centre(row, col), from_centre(56, 86)
    assert dx == pytest.approx(dx0 / CROP_SCALE, abs=0.2) and dy == pytest.approx(dy0 / CROP_SCALE, abs=0.2)


def test_the_crops_offset_moves_the_picture_the_other_way_by_the_room_it_leaves():
    image = dot_image(56, 56)
    centred = centre_of_mass(crop_and_rotate(image, torch.zeros(1, 2), torch.zeros(1)))
    shifted = centre_of_mass(crop_and_rotate(image, torch.tensor([[1.0, 0.0]]), torch.zeros(1)))
    room = (1 - CROP_SCALE) / CROP_SCALE * SIDE / 2  # pixels: the crop's edge at the picture's edge
    assert shifted[1] - centred[1] == pytest.approx(-room, abs=0.2) and shifted[0] == pytest.approx(centred[0], abs=0.1)


def test_a_positive_angle_turns_the_picture_counter_clockwise():
    right_of_middle = dot_image(56, 86)
    row, col = centre_of_mass(crop_and_rotate(right_of_middle, torch.zeros(1, 2), torch.tensor([math.pi / 2])))
    dy, dx = from_centre(row, col)
    assert dy < -25 and abs(dx) < 1.5, "rows grow downwards: counter-clockwise takes the right to the top"


def test_colour_factors_of_one_change_nothing_and_others_act_as_torchvision():
    image = torch.rand(2, 3, 8, 8)
    ones = torch.ones(2)
    assert torch.allclose(color_jitter(image, ones, ones, ones), image, atol=1e-6)
    dimmer = color_jitter(image, torch.full((2,), 0.5), ones, ones)
    assert torch.allclose(dimmer, image * 0.5, atol=1e-6)
    grey = color_jitter(image, ones, ones, torch.zeros(2))
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    flat = color_jitter(image, ones, torch.zeros(2), ones)
    assert torch.allclose(flat, flat.mean(dim=(2, 3), keepdim=True).expand_as(flat), atol=1e-6)
    assert color_jitter(image, torch.full((2,), 3.0), ones, ones).max() <= 1.0


def test_fixed_cameras_move_wrist_cameras_keep_their_geometry_and_empty_slots_are_untouched():
    augment = ImageAugmentation.for_cameras(["observation.images.front", "observation.images.wrist"])
    assert augment.fixed == (True, False)
    dots = torch.stack([dot_image(30, 80)[0]] * 3) * 2 - 1  # (3 slots, 3, H, W) in [-1, 1]
    batch = torch.stack([dots] * 16)  # the third slot: an empty camera past the training ones
    out = augment(batch, torch.Generator().manual_seed(0))
    assert out.shape == batch.shape and out.min() >= -1 and out.max() <= 1
    front = [centre_of_mass(out[i, 0:1]) for i in range(16)]
    dot = batch[0, 1, 0] > 0
    wrist = [out[i, 1, 0] > out[i, 1, 0].min() + 1e-3 for i in range(16)]
    assert len({(round(r), round(c)) for r, c in front}) > 4, "each sample draws its own crop and angle"
    assert all(math.dist((r, c), (30, 80)) < 8 for r, c in front), "up to 3 px of crop, 3 of rotation, 1.5 of zoom"
    assert all(torch.equal(bright, dot) for bright in wrist), "the wrist camera's dot stays where it was"
    assert not torch.equal(out[:, 1], batch[:, 1]), "the wrist camera's colours are jittered"
    assert torch.equal(out[:, 2], batch[:, 2])
    again = augment(batch, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
