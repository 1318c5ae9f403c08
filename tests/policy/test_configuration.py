"""The pi05 configuration: sizes, validation, LeRobot's config.json."""

import json

import pytest

from lerobot_policy.configuration import PI05Config
from lerobot_policy.errors import PolicyError


def test_defaults_are_pi05_base():
    config = PI05Config()
    assert (config.backbone.width, config.expert.width, config.image_tokens) == (2048, 1024, 256)
    assert config.backbone.head_dim == config.expert.head_dim == 256


def test_tiny_is_small_and_consistent():
    config = PI05Config.tiny()
    assert config.backbone.width == 64 and config.image_tokens == 16 and config.chunk_size == 10


@pytest.mark.parametrize("size", ["gemma_tiny", "gemma_mini", "gemma_small"])
def test_every_small_backbone_has_an_expert_it_attends_with(size):
    config = PI05Config.tiny(paligemma_variant=size, action_expert_variant=f"{size}_expert")
    assert config.expert.width < config.backbone.width and config.expert.depth == config.backbone.depth


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"paligemma_variant": "gemma_7b"}, "paligemma_variant 'gemma_7b' is unknown"),
        ({"action_expert_variant": "gemma_300m"}, "attend jointly: they must share"),
        ({"n_action_steps": 11}, r"n_action_steps 11 must be in 1..chunk_size \(10\)"),
        ({"dtype": "float16"}, "use 'float32' or 'bfloat16'"),
        ({"image_resolution": (200, 224)}, "not a multiple of the patch size 56"),
        ({"text_loss_weight": -1.0}, "loss weights must be >= 0"),
    ],
)
def test_bad_values_are_named(overrides, message):
    with pytest.raises(PolicyError, match=message):
        PI05Config.tiny(**overrides)


def test_lerobot_config_json_round_trip():
    raw = {
        "type": "pi05", "paligemma_variant": "gemma_2b", "action_expert_variant": "gemma_300m", "chunk_size": 50,
        "n_action_steps": 50, "image_resolution": [224, 224], "device": "cuda", "use_amp": False,
        "input_features": {"observation.state": {"type": "STATE", "shape": [32]}},
    }  # fmt: skip
    config = PI05Config.from_lerobot(json.loads(json.dumps(raw)))
    assert config.extra["device"] == "cuda" and config.image_resolution == (224, 224)
    written = config.to_lerobot()
    assert {k: written[k] for k in raw} == raw
    with pytest.raises(PolicyError, match="is a 'act' policy"):
        PI05Config.from_lerobot({"type": "act"})
