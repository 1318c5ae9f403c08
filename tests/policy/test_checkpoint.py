"""Checkpoints in LeRobot's pi05 layout: round trip, prefix-less keys, strict reports."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from lerobot_policy.checkpoint import CheckpointError, load_pretrained, save_pretrained
from lerobot_policy.configuration import PI05Config
from lerobot_policy.modeling import PI05Policy


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    policy = PI05Policy(PI05Config.tiny())
    save_pretrained(policy, tmp_path / "ckpt")
    return policy, tmp_path / "ckpt"


def test_round_trip(saved):
    policy, folder = saved
    loaded = load_pretrained(folder)
    for key, value in policy.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    config = json.loads((folder / "config.json").read_text())
    assert config["type"] == "pi05" and config["paligemma_variant"] == "gemma_tiny"
    assert all(key.startswith("model.") for key in load_file(str(folder / "model.safetensors")))


def test_keys_without_the_model_prefix_load(saved):
    policy, folder = saved
    state = load_file(str(folder / "model.safetensors"))
    save_file({key.removeprefix("model."): value for key, value in state.items()}, str(folder / "model.safetensors"))
    loaded = load_pretrained(folder)
    assert torch.equal(
        loaded.state_dict()["model.action_in_proj.weight"], policy.state_dict()["model.action_in_proj.weight"]
    )


def test_missing_unexpected_and_misshaped_keys_are_reported(saved):
    _, folder = saved
    state = load_file(str(folder / "model.safetensors"))
    del state["model.time_mlp_in.weight"]
    state["model.state_proj.weight"] = torch.zeros(3)  # a pi0 key
    state["model.action_out_proj.bias"] = torch.zeros(7)
    save_file(state, str(folder / "model.safetensors"))
    expected = (
        r"1 missing: model\.time_mlp_in\.weight; 1 unexpected: model\.state_proj\.weight; "
        r"1 of another shape: model\.action_out_proj\.bias: \(7,\) in the checkpoint, \(32,\) in the model"
    )
    with pytest.raises(CheckpointError, match=expected):
        load_pretrained(folder)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(CheckpointError, match=r"has no model\.safetensors"):
        load_pretrained(tmp_path)
