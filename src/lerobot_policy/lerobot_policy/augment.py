"""Training-time image augmentation, as openpi trains pi0 and pi0.5.

A camera fixed in the scene gets a random 95 % crop resized back and a rotation of up to 5
degrees; every camera gets colour jitter (brightness 0.3, contrast 0.4, saturation 0.5). A
wrist camera keeps its geometry: what it shows is already relative to the gripper, and openpi
tells the two apart by "wrist" in the camera's name, as here. The model sees the images
unchanged at inference; LeRobot's pi05 trains without augmentation, so it is off by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812

CROP_SCALE = 0.95
MAX_ROTATION_DEG = 5.0
BRIGHTNESS, CONTRAST, SATURATION = 0.3, 0.4, 0.5
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights, as torchvision's grayscale


@dataclass(frozen=True)
class ImageAugmentation:
    """Which of the batch's camera slots (in the training cameras' order) move with the scene."""

    fixed: tuple[bool, ...]

    @classmethod
    def for_cameras(cls, keys: list[str]) -> ImageAugmentation:
        return cls(tuple("wrist" not in key for key in keys))

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, slots, 3, H, W) in [-1, 1] -> the same, each sample's camera drawn anew; slots past
        the training cameras (the config's empty ones) are left as they are."""
        out = images.clone()
        for slot, fixed in enumerate(self.fixed):
            unit = images[:, slot] / 2.0 + 0.5
            if fixed:
                unit = crop_and_rotate(unit, *_draw_geometry(len(unit), generator))
            out[:, slot] = color_jitter(unit, *_draw_colour(len(unit), generator)) * 2.0 - 1.0
        return out


def crop_and_rotate(images: torch.Tensor, offsets: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """(N, 3, S, S) square images: a CROP_SCALE crop whose centre sits at `offsets` (N, 2, in
    [-1, 1] of the room the crop leaves), resized back, then turned counter-clockwise by
    `angles` (N, radians) about the centre; what comes into view from outside is black."""
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"crop_and_rotate needs square images (the model's resolution), got {tuple(images.shape)}")
    cos, sin = torch.cos(angles), torch.sin(angles)
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    shift = offsets * (1.0 - CROP_SCALE)
    theta = torch.cat([CROP_SCALE * rotation, shift.unsqueeze(-1)], dim=-1).to(images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def color_jitter(
    images: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor, saturation: torch.Tensor
) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1], with per-image factors (N,) as torchvision applies them: scale,
    blend with the mean grey, blend with the pixel's grey; clipped to [0, 1] after each."""

    def grey(x: torch.Tensor) -> torch.Tensor:
        weights = torch.tensor(LUMA, dtype=x.dtype).view(1, 3, 1, 1)
        return (x * weights).sum(1, keepdim=True)

    def per_image(factor: torch.Tensor) -> torch.Tensor:
        return factor.to(images.dtype).view(-1, 1, 1, 1)

    x = (images * per_image(brightness)).clamp(0.0, 1.0)
    mean = grey(x).mean(dim=(2, 3), keepdim=True)
    x = (mean + (x - mean) * per_image(contrast)).clamp(0.0, 1.0)
    pixel_grey = grey(x)
    return (pixel_grey + (x - pixel_grey) * per_image(saturation)).clamp(0.0, 1.0)


def _uniform(n: int, low: float, high: float, generator: torch.Generator | None) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _draw_geometry(n: int, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    offsets = torch.rand(n, 2, generator=generator) * 2.0 - 1.0
    limit = math.radians(MAX_ROTATION_DEG)
    return offsets, _uniform(n, -limit, limit, generator)


def _draw_colour(n: int, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    brightness, contrast, saturation = (
        _uniform(n, 1.0 - spread, 1.0 + spread, generator) for spread in (BRIGHTNESS, CONTRAST, SATURATION)
    )
    return brightness, contrast, saturation
