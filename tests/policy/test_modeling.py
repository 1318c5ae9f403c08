"""The fused forward: routing, equivalence with the separate passes, gradients, key names."""

import pytest
import torch
from pi05_tiny import tiny

from lerobot_policy.checkpoint import lerobot_key
from lerobot_policy.configuration import PI05Config
from lerobot_policy.errors import PolicyError
from lerobot_policy.modeling import Batch


def batch(config: PI05Config, with_text: bool = True, with_fast: bool = True) -> Batch:
    g = torch.Generator().manual_seed(1)
    prompt_mask = torch.tensor([[False, True, True, True, True], [True, True, True, True, True]])
    return Batch(
        images=torch.rand(2, 2, 3, 224, 224, generator=g) * 2 - 1,
        image_masks=torch.tensor([[True, True], [True, False]]),
        prompt=torch.randint(0, config.vocab_size, (2, 5), generator=g),
        prompt_mask=prompt_mask,
        actions=torch.randn(2, config.chunk_size, config.max_action_dim, generator=g),
        action_dim=6,
        targets=torch.randint(0, config.vocab_size, (2, 3), generator=g) if with_text else None,
        targets_mask=torch.tensor([[True, True, False], [True, True, True]]) if with_text else None,
        fast=torch.randint(0, config.vocab_size, (2, 4), generator=g) if with_fast else None,
        fast_mask=torch.tensor([[True, True, True, False], [True, True, True, True]]) if with_fast else None,
    )


def test_parameter_names_are_lerobot_pi05_keys():
    """As checkpoints carry them: the SigLIP tower with LeRobot's vision_model level."""
    keys = {lerobot_key(key) for key in tiny().state_dict()}
    for key in (
        "model.paligemma_with_expert.paligemma.model.vision_tower.vision_model.embeddings.patch_embedding.weight",
        "model.paligemma_with_expert.paligemma.model.vision_tower.vision_model.post_layernorm.weight",
        "model.paligemma_with_expert.paligemma.model.multi_modal_projector.linear.weight",
        "model.paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight",
        "model.paligemma_with_expert.paligemma.model.language_model.layers.0.self_attn.q_proj.weight",
        "model.paligemma_with_expert.paligemma.model.language_model.norm.weight",
        "model.paligemma_with_expert.paligemma.lm_head.weight",
        "model.paligemma_with_expert.gemma_expert.model.layers.1.input_layernorm.dense.weight",
        "model.paligemma_with_expert.gemma_expert.model.norm.dense.bias",
        "model.paligemma_with_expert.gemma_expert.lm_head.weight",
        "model.action_in_proj.weight", "model.action_out_proj.bias",
        "model.time_mlp_in.weight", "model.time_mlp_out.bias",
    ):  # fmt: skip
        assert key in keys, key


def test_fused_losses_equal_the_separate_passes():
    policy = tiny(flow_loss_weight=1.0, text_loss_weight=1.0, fast_loss_weight=1.0)
    b = batch(policy.config)
    noise = torch.randn(b.actions.shape, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([0.3, 0.8])
    with torch.no_grad():
        fused = policy.model(b, noise, t)
        prefix_only = tiny(flow_loss_weight=0.0, text_loss_weight=1.0, fast_loss_weight=1.0).model(b, noise, t)
        flow_only = tiny(flow_loss_weight=1.0).model(batch(policy.config, with_text=True, with_fast=False), noise, t)
    torch.testing.assert_close(fused["text"], prefix_only["text"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fused["fast"], prefix_only["fast"], rtol=1e-5, atol=1e-5)
    # the flow-only pass has no FAST tokens at all: the suffix never saw them
    flow_with_text = tiny(flow_loss_weight=1.0, text_loss_weight=1.0).model(
        batch(policy.config, with_fast=False), noise, t
    )
    torch.testing.assert_close(fused["flow"], flow_with_text["flow"], rtol=1e-5, atol=1e-5)
    assert torch.isfinite(flow_only["flow"])


def test_flow_loss_has_no_gradient_through_the_fast_embeddings():
    policy = tiny(flow_loss_weight=1.0, fast_loss_weight=1.0)
    b = batch(policy.config, with_text=False)
    captured = {}
    embed = policy.model.embed_tokens

    def spy(ids):
        out = embed(ids)
        if ids.shape[1] == 4:  # the FAST tokens
            out.retain_grad()
            captured["fast"] = out
        return out

    policy.model.embed_tokens = spy
    losses = policy.model(b, torch.randn(b.actions.shape), torch.tensor([0.4, 0.6]))
    losses["flow"].backward()
    assert captured["fast"].grad is None or captured["fast"].grad.abs().max() == 0


def test_routing_refuses_when_nothing_is_on():
    policy = tiny(flow_loss_weight=0.0)
    with pytest.raises(PolicyError, match="no loss is active"):
        policy.model(batch(policy.config, with_text=False, with_fast=False))


def test_previous_real_skips_padding():
    from lerobot_policy.modeling import previous_real

    pad = torch.tensor([[False, True, True, False, True]])
    assert previous_real(pad).tolist() == [[-1, -1, 1, 2, 2]]


def test_sampling_with_the_cached_prefix_equals_recomputing_it():
    policy = tiny()
    b = batch(policy.config, with_text=False, with_fast=False)
    noise = torch.randn(
        2, policy.config.chunk_size, policy.config.max_action_dim, generator=torch.Generator().manual_seed(3)
    )
    cached = policy.sample_actions(b, noise)
    recomputed = policy.sample_actions(b, noise, use_cache=False)
    assert cached.shape == (2, policy.config.chunk_size, policy.config.max_action_dim)
    torch.testing.assert_close(cached, recomputed, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_a_tiny_model_overfits_a_tiny_dataset():
    torch.manual_seed(0)
    policy = tiny(flow_loss_weight=1.0, text_loss_weight=1.0, fast_loss_weight=1.0).train()
    b = batch(policy.config)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    history = []
    for _ in range(300):  # fresh noise and time every step, as in training
        losses = policy.model(b)
        optimizer.zero_grad()
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        optimizer.step()
        history.append({k: v.item() for k, v in losses.items()})
    last = {k: sum(h[k] for h in history[-20:]) / 20 for k in history[0]}
    for key in ("loss", "flow", "text", "fast"):
        assert last[key] <= history[0][key] / 10, f"{key}: {history[0][key]:.3f} -> {last[key]:.3f}"


def test_noise_draws_sharing_a_prefix_equal_separate_passes():
    """flow_num_repeats: each draw's velocities and loss equal a one-draw pass with that noise
    and time; the draws do not see each other and the prefix is computed once."""
    repeats = 3
    policy = tiny(flow_loss_weight=1.0, text_loss_weight=1.0, fast_loss_weight=1.0, flow_num_repeats=repeats)
    single = tiny(flow_loss_weight=1.0, text_loss_weight=1.0, fast_loss_weight=1.0)
    b = batch(policy.config)
    b.action_pad = torch.zeros(2, policy.config.chunk_size, dtype=torch.bool)
    b.action_pad[1, -3:] = True
    g = torch.Generator().manual_seed(5)
    noise = torch.randn(2, repeats, *b.actions.shape[1:], generator=g)
    t = torch.rand(2, repeats, generator=g)
    with torch.no_grad():
        fused = policy.model.outputs(b, noise, t)
        alone = [single.model.outputs(b, noise[:, r], t[:, r]) for r in range(repeats)]
    velocity = fused.velocity.unflatten(0, (2, repeats))
    for r, one in enumerate(alone):
        torch.testing.assert_close(velocity[:, r], one.velocity, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(fused.losses["text"], one.losses["text"], rtol=1e-5, atol=1e-6)
    mean_flow = torch.stack([one.losses["flow"] for one in alone]).mean()
    torch.testing.assert_close(fused.losses["flow"], mean_flow, rtol=1e-5, atol=1e-6)
