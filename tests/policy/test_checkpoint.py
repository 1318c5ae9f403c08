"""Checkpoints in LeRobot's pi05 layout: round trip, prefix-less keys, strict reports."""

import json

import pytest
import torch
from pi05_tiny import observation_batch, tiny
from safetensors.torch import load_file, save_file

from lerobot_policy.checkpoint import CheckpointError, load_pretrained, save_pretrained
from lerobot_policy.configuration import PI05Config
from lerobot_policy.errors import PolicyError
from lerobot_policy.modeling import PI05Policy, check_transformers


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
    written = load_file(str(folder / "model.safetensors"))
    assert all(key.startswith("model.") for key in written)
    siglip = "model.paligemma_with_expert.paligemma.model.vision_tower.vision_model."
    assert f"{siglip}embeddings.patch_embedding.weight" in written, "LeRobot's layout, whatever transformers is here"
    assert f"{siglip}post_layernorm.weight" in written


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
    state["model.state_out.weight"] = torch.zeros(3)  # nothing of pi05
    state["model.action_out_proj.bias"] = torch.zeros(7)
    save_file(state, str(folder / "model.safetensors"))
    expected = (
        r"1 missing: model\.time_mlp_in\.weight; 1 unexpected: model\.state_out\.weight; "
        r"1 of another shape: model\.action_out_proj\.bias: \(7,\) in the checkpoint, \(32,\) in the model"
    )
    with pytest.raises(CheckpointError, match=expected):
        load_pretrained(folder)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(CheckpointError, match=r"has no model\.safetensors"):
        load_pretrained(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"not opened")
    with pytest.raises(CheckpointError, match=r"only pickle files \(pytorch_model\.bin\), which are never loaded"):
        load_pretrained(tmp_path)


def test_weights_of_other_sizes_than_config_json_names_are_named(saved):
    """A config.json naming sizes (or, without them, LeRobot's defaults) the weights lack."""
    _, folder = saved
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "max_action_dim": 16}))
    with pytest.raises(CheckpointError, match=r"does not fit the pi05 model its config describes.*Name the sizes"):
        load_pretrained(folder)


def rewrite(folder, edit):
    state = load_file(str(folder / "model.safetensors"))
    save_file(edit(state), str(folder / "model.safetensors"))


def test_the_siglip_layout_of_newer_transformers_loads_too(saved):
    """transformers 5.6+ writes the tower without its vision_model level."""
    policy, folder = saved
    rewrite(
        folder, lambda state: {k.replace(".vision_tower.vision_model.", ".vision_tower."): v for k, v in state.items()}
    )
    loaded = load_pretrained(folder)
    key = next(k for k in policy.state_dict() if "patch_embedding.weight" in k)
    assert torch.equal(loaded.state_dict()[key], policy.state_dict()[key])


def test_a_checkpoint_with_lm_head_only_fills_embed_tokens_as_lerobot_does(saved, caplog):
    """The published pi05_base carries lm_head and no embed_tokens; PaliGemma ties them."""
    policy, folder = saved
    embed = "model.paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight"
    head = "model.paligemma_with_expert.paligemma.lm_head.weight"
    rewrite(folder, lambda state: {k: v for k, v in state.items() if k != embed})
    with caplog.at_level("INFO"):
        loaded = load_pretrained(folder)
    assert torch.equal(loaded.state_dict()[embed], policy.state_dict()[head])
    assert "embed_tokens filled from lm_head" in caplog.text


def test_older_names_and_pi0_leftovers_load_as_lerobot_loads_them(saved, caplog):
    policy, folder = saved

    def older(state):
        renamed = {k.removeprefix("model.").replace("time_mlp_", "action_time_mlp_"): v for k, v in state.items()}
        return {**renamed, "state_proj.weight": torch.zeros(3, 3)}

    rewrite(folder, older)
    with caplog.at_level("INFO"):
        loaded = load_pretrained(folder)
    assert torch.equal(loaded.state_dict()["model.time_mlp_in.weight"], policy.state_dict()["model.time_mlp_in.weight"])
    assert "action_time_mlp_* names read as time_mlp_* (4 tensor(s))" in caplog.text
    assert "state_proj left out" in caplog.text


def test_a_config_without_vision_variant_takes_it_from_the_weights(saved, caplog):
    """LeRobot's checkpoints never name one, nor the vocabulary: PaliGemma fixes both. Its
    config.json holds LeRobot's fields only (LeRobot's parser refuses others)."""
    _, folder = saved
    config = json.loads((folder / "config.json").read_text())
    assert "vision_variant" not in config and "flow_loss_weight" not in config and config["type"] == "pi05"
    (folder / "pi05_fields.json").unlink()
    with caplog.at_level("INFO"):
        loaded = load_pretrained(folder)
    assert loaded.config.vision_variant == "siglip_tiny" and loaded.config.vocab_size == 1024
    assert "vision_variant siglip_tiny, from the weights' shapes" in caplog.text
    rewrite(
        folder, lambda state: {k: v for k, v in state.items() if ".encoder.layers.1." not in k or "vision" not in k}
    )
    with pytest.raises(CheckpointError, match=r"names no vision_variant and the weights' SigLIP \(width 32, 1 layers"):
        load_pretrained(folder)


def test_a_checkpoint_of_another_policy_type_is_named(saved):
    _, folder = saved
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "type": "smolvla"}))
    with pytest.raises(PolicyError, match=r"config\.json is a 'smolvla' policy: this suite runs pi05 checkpoints only"):
        load_pretrained(folder)


def test_bfloat16_weights_as_lerobot_keeps_them(tmp_path):
    """dtype bfloat16: the Gemma stacks in bf16; SigLIP, projector, norms (adaptive ones too),
    action and time projections in fp32; sampling runs and stays near the fp32 result."""
    policy = tiny()
    save_pretrained(policy, tmp_path)
    bf16 = load_pretrained(tmp_path, dtype="bfloat16")
    dtypes = {name: p.dtype for name, p in bf16.named_parameters()}
    prefix = "model.paligemma_with_expert."
    assert dtypes[prefix + "paligemma.model.language_model.layers.0.self_attn.q_proj.weight"] == torch.bfloat16
    assert dtypes[prefix + "gemma_expert.model.layers.0.mlp.up_proj.weight"] == torch.bfloat16
    assert dtypes[prefix + "paligemma.model.language_model.embed_tokens.weight"] == torch.bfloat16
    for fp32 in (
        prefix + "paligemma.model.vision_tower.embeddings.patch_embedding.weight",
        prefix + "paligemma.model.multi_modal_projector.linear.weight",
        prefix + "paligemma.model.language_model.norm.weight",
        prefix + "gemma_expert.model.layers.0.input_layernorm.dense.weight",
        prefix + "gemma_expert.model.norm.dense.weight",
        "model.action_in_proj.weight", "model.time_mlp_in.weight", "model.action_out_proj.weight",
    ):  # fmt: skip
        assert dtypes[fp32] == torch.float32, fp32
    config = policy.config
    g = torch.Generator().manual_seed(0)
    batch = observation_batch(config, g)
    noise = torch.randn(1, config.chunk_size, config.max_action_dim, generator=g)
    exact = load_pretrained(tmp_path).sample_actions(batch, noise)
    rounded = bf16.sample_actions(batch, noise)
    assert rounded.dtype == torch.float32
    assert (rounded - exact).abs().max() < 0.05
    assert load_pretrained(tmp_path, dtype="bfloat16").config.dtype == "bfloat16"


def test_a_transformers_outside_the_tested_range_is_named():
    import transformers

    check_transformers(transformers.__version__)  # what set-up installs is in the range
    for outside in ("4.53.0", "5.25.0"):
        with pytest.raises(PolicyError, match=rf"transformers {outside} is outside the tested range >=5\.4,<5\.25"):
            check_transformers(outside)
