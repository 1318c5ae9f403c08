"""Model inputs: normalization, image padding, discretized-state prompt."""

import numpy as np
import pytest
import torch

from lerobot_policy.errors import PolicyError
from lerobot_policy.processor import (
    QuantileNormalizer,
    discretize_state,
    pad_vector,
    pi05_prompt,
    preprocess_images,
    resize_with_pad,
)

STATS = {"observation.state": {"q01": np.array([0.0, -2.0, 1.0]), "q99": np.array([1.0, 2.0, 1.0])}}


def test_quantile_normalization_round_trip_and_bounds():
    norm = QuantileNormalizer(STATS, ["observation.state"])
    x = torch.tensor([[0.0, -2.0, 1.0], [1.0, 2.0, 1.0], [0.5, 0.0, 1.0]])
    y = norm.normalize("observation.state", x)
    assert y[0, :2].tolist() == [-1.0, -1.0] and y[1, :2].tolist() == [1.0, 1.0] and y[2, :2].tolist() == [0.0, 0.0]
    assert torch.isfinite(y).all(), "q01 == q99 must not divide by zero"
    torch.testing.assert_close(norm.unnormalize("observation.state", y), x)


def test_missing_quantiles_are_named():
    with pytest.raises(PolicyError, match="needs q01 and q99 stats for action"):
        QuantileNormalizer(STATS, ["action"])


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
