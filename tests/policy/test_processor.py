"""Model inputs: normalization, image padding, discretized-state prompt."""

import numpy as np
import pytest
import torch

from lerobot_policy.collate import observation_batch
from lerobot_policy.configuration import PI05Config
from lerobot_policy.errors import PolicyError
from lerobot_policy.processor import (
    Normalizer,
    discretize_state,
    pad_vector,
    pi05_prompt,
    preprocess_images,
    resize_with_pad,
)
from lerobot_policy.text import train_small_tokenizer

STATS = {"observation.state": {"q01": np.array([0.0, -2.0, 1.0]), "q99": np.array([1.0, 2.0, 1.0])}}


def test_quantile_normalization_round_trip_and_bounds():
    norm = Normalizer(STATS, {"observation.state": "QUANTILES"})
    x = torch.tensor([[0.0, -2.0, 1.0], [1.0, 2.0, 1.0], [0.5, 0.0, 1.0]])
    y = norm.normalize("observation.state", x)
    assert y[0, :2].tolist() == [-1.0, -1.0] and y[1, :2].tolist() == [1.0, 1.0] and y[2, :2].tolist() == [0.0, 0.0]
    assert torch.isfinite(y).all(), "q01 == q99 must not divide by zero"
    torch.testing.assert_close(norm.unnormalize("observation.state", y), x)


MODE_STATS = {
    "a": {"mean": np.array([1.0]), "std": np.array([2.0]), "min": np.array([-3.0]), "max": np.array([5.0]),
          "q10": np.array([0.0]), "q90": np.array([4.0])},
}  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "x", "expected"),
    [  # LeRobot's formulas, worked by hand
        ("MEAN_STD", 5.0, (5.0 - 1.0) / (2.0 + 1e-8)),
        ("MIN_MAX", 1.0, 2 * (1.0 + 3.0) / 8.0 - 1),
        ("QUANTILE10", 3.0, 2 * 3.0 / 4.0 - 1),
        ("IDENTITY", 7.0, 7.0),
    ],
)
def test_every_lerobot_normalization_mode(mode, x, expected):
    norm = Normalizer(MODE_STATS, {"a": mode})
    y = norm.normalize("a", torch.tensor([x]))
    assert y.item() == pytest.approx(expected)
    assert norm.unnormalize("a", y).item() == pytest.approx(x, abs=1e-6)


def test_normalization_mapping_of_a_lerobot_config_is_honoured():
    config = PI05Config.from_lerobot(
        {"type": "pi05", "normalization_mapping": {"STATE": "MEAN_STD", "ACTION": "MIN_MAX"}}
    )
    assert (config.normalization("STATE"), config.normalization("ACTION")) == ("MEAN_STD", "MIN_MAX")
    with pytest.raises(PolicyError, match="normalization_mapping ACTION: 'PERCENT' is not one of"):
        PI05Config.from_lerobot({"type": "pi05", "normalization_mapping": {"ACTION": "PERCENT"}})


def test_missing_quantiles_are_named():
    with pytest.raises(PolicyError, match=r"QUANTILES normalization needs \['q01', 'q99'\] stats for action"):
        Normalizer(STATS, {"action": "QUANTILES"})


def test_resize_with_pad_keeps_aspect_and_pads_black():
    image = torch.zeros(1, 3, 480, 640)  # mid-grey in [-1, 1]
    out = resize_with_pad(image, 224, 224)
    assert out.shape == (1, 3, 224, 224)
    assert (out[:, :, :28] == -1).all() and (out[:, :, -28:] == -1).all()  # 640x480 -> 224x168, 28 px bars
    assert (out[:, :, 28:-28] == 0).all()


def test_preprocess_images_maps_unit_range_to_minus_one_one():
    white = torch.ones(2, 3, 224, 224)
    assert torch.equal(preprocess_images(white), torch.ones(2, 3, 224, 224))
    assert preprocess_images(torch.full((1, 3, 224, 224), 255, dtype=torch.uint8)).max() == 1.0


def test_state_bins_and_prompt_as_openpi():
    assert discretize_state(np.array([-1.0, -0.999, 0.0, 0.999, 1.0])).tolist() == [0, 0, 128, 255, 255]
    prompt = pi05_prompt(" pick_up the\ncube ", np.array([-1.0, 0.0, 1.0]))
    assert prompt == "Task: pick up the cube, State: 0 128 255;\nAction: "


def test_pad_vector():
    assert pad_vector(torch.ones(2, 6), 32).shape == (2, 32)
    with pytest.raises(PolicyError, match="40 dimensions do not fit the model's 32"):
        pad_vector(torch.ones(40), 32)


def test_a_missing_camera_is_fed_as_lerobot_feeds_it():
    """Present cameras first, then the missing one and the config's empty cameras: all -1,
    mask off (LeRobot's _preprocess_images)."""
    config = PI05Config.tiny(empty_cameras=1)
    stats = {"observation.state": {"q01": np.zeros(2), "q99": np.ones(2)}}
    text = train_small_tokenizer(["Task: a, State: 1 2;\nAction: "] * 4, vocab_size=300)
    white = np.full((32, 32, 3), 255, np.uint8)
    batch = observation_batch(config, Normalizer(stats, {"observation.state": "QUANTILES"}), text,
                              images=[[None, white]], states=np.zeros((1, 2)), tasks=["a"])  # fmt: skip
    assert batch.image_masks.tolist() == [[True, False, False]]
    assert (batch.images[0, 0] == 1).all() and (batch.images[0, 1:] == -1).all()
    with pytest.raises(PolicyError, match="every camera is missing"):
        observation_batch(config, Normalizer(stats, {"observation.state": "QUANTILES"}), text,
                          images=[[None, None]], states=np.zeros((1, 2)), tasks=["a"])  # fmt: skip
