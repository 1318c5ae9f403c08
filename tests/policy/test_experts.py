"""The joint-attention stacks: parity with transformers' Gemma, and the fused-forward properties."""

import torch
from transformers.models.gemma.configuration_gemma import GemmaConfig
from transformers.models.gemma.modeling_gemma import GemmaModel

from lerobot_policy.configuration import GEMMA
from lerobot_policy.experts import GemmaStack, joint_forward, prefix_pass, suffix_pass
from lerobot_policy.masks import Segments, additive, fused_masks

BACKBONE, EXPERT = GEMMA["gemma_tiny"], GEMMA["gemma_tiny_expert"]


def randomize(module: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)


def test_backbone_alone_equals_transformers_gemma():
    config = GemmaConfig(
        vocab_size=32, hidden_size=BACKBONE.width, intermediate_size=BACKBONE.mlp_dim, num_hidden_layers=BACKBONE.depth,
        num_attention_heads=BACKBONE.num_heads, num_key_value_heads=BACKBONE.num_kv_heads, head_dim=BACKBONE.head_dim,
    )  # fmt: skip
    config._attn_implementation = "eager"
    reference = GemmaModel(config).eval()
    randomize(reference, 0)
    ours = GemmaStack(BACKBONE)
    missing, unexpected = ours.load_state_dict(reference.state_dict(), strict=False)
    assert missing == [] and unexpected == ["embed_tokens.weight"], "parameter names must match Gemma's"
    x = torch.randn(2, 7, BACKBONE.width)
    causal = torch.tril(torch.ones(7, 7, dtype=torch.bool))[None].expand(2, 7, 7)
    positions = torch.arange(7)[None].expand(2, 7)
    (out,) = joint_forward([ours], [x], additive(causal), positions)
    expected = reference(inputs_embeds=x).last_hidden_state
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def build(seed: int = 1):
    backbone, expert = GemmaStack(BACKBONE), GemmaStack(EXPERT, cond_dim=EXPERT.width)
    randomize(backbone, seed)
    randomize(expert, seed + 1)
    return backbone, expert


def inputs(seg: Segments, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random prefix and suffix embeddings and a time condition for `seg`."""
    return (
        torch.randn(batch, seg.prefix, BACKBONE.width),
        torch.randn(batch, seg.suffix, EXPERT.width),
        torch.randn(batch, EXPERT.width),
    )


def test_prefix_outputs_do_not_depend_on_the_suffix():
    """Why the fused text/FAST losses equal the prefix-only pass: the prefix never attends to the suffix."""
    backbone, expert = build()
    seg = Segments(images=4, prompt=3, targets=2, fast=3, suffix=5)
    pad = torch.ones(2, seg.total, dtype=torch.bool)
    allowed, positions = fused_masks(seg, pad)
    prefix, suffix, cond = inputs(seg, batch=2)
    fused_prefix, fused_suffix = joint_forward([backbone, expert], [prefix, suffix], additive(allowed), positions, cond)
    prefix_only = Segments(images=4, prompt=3, targets=2, fast=3)
    allowed_p, positions_p = fused_masks(prefix_only, pad[:, : seg.prefix])
    alone, _ = joint_forward([backbone, expert], [prefix, None], additive(allowed_p), positions_p, cond)
    torch.testing.assert_close(fused_prefix, alone, rtol=1e-5, atol=1e-5)
    assert fused_suffix.shape == (2, 5, EXPERT.width)


def test_rows_past_keep_from_equal_the_full_forward_and_skipped_experts_return_none():
    """Rows nobody reads are dropped in the last layer only: the rows kept are unchanged, and
    an expert reduced to keys and values still conditions the others exactly as before."""
    backbone, expert = build()
    seg = Segments(images=4, prompt=3, targets=2, fast=3, suffix=5)
    pad = torch.ones(2, seg.total, dtype=torch.bool)
    pad[1, 5:7] = False  # padded prompt tail
    allowed, positions = fused_masks(seg, pad)
    mask = additive(allowed)
    prefix, suffix, cond = inputs(seg, batch=2)
    full_prefix, full_suffix = joint_forward([backbone, expert], [prefix, suffix], mask, positions, cond)
    for insulate in (False, True):
        kept, kept_suffix = joint_forward(
            [backbone, expert], [prefix, suffix], mask, positions, cond, insulate=insulate, keep_from=[6, 2]
        )
        torch.testing.assert_close(kept, full_prefix[:, 6:], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(kept_suffix, full_suffix[:, 2:], rtol=1e-5, atol=1e-5)
    none, flow_only = joint_forward(
        [backbone, expert], [prefix, suffix], mask, positions, cond, keep_from=[seg.prefix, 0]
    )
    assert none is None
    torch.testing.assert_close(flow_only, full_suffix, rtol=1e-5, atol=1e-5)


def test_suffix_is_blind_to_fast_tokens():
    backbone, expert = build()
    seg = Segments(images=4, prompt=3, fast=3, suffix=5)
    allowed, positions = fused_masks(seg, torch.ones(1, seg.total, dtype=torch.bool))
    prefix, suffix, cond = inputs(seg, batch=1)
    _, first = joint_forward([backbone, expert], [prefix, suffix], additive(allowed), positions, cond)
    changed = prefix.clone()
    changed[:, seg.fast_start :] += 5.0  # other FAST tokens
    _, second = joint_forward([backbone, expert], [changed, suffix], additive(allowed), positions, cond)
    torch.testing.assert_close(first, second)


def test_knowledge_insulation_keeps_values_and_stops_gradients_into_the_backbone():
    backbone, expert = build()
    seg = Segments(images=4, prompt=3, suffix=5)
    allowed, positions = fused_masks(seg, torch.ones(1, seg.total, dtype=torch.bool))
    prefix, suffix, cond = inputs(seg, batch=1)
    _, plain = joint_forward([backbone, expert], [prefix, suffix], additive(allowed), positions, cond)
    _, insulated = joint_forward(
        [backbone, expert], [prefix, suffix], additive(allowed), positions, cond, insulate=True
    )
    torch.testing.assert_close(plain, insulated)
    insulated.sum().backward()
    backbone_grads = [p.grad for p in backbone.parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert backbone_grads == [], "the flow loss must not reach the backbone under knowledge insulation"
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in expert.parameters())


def test_cached_prefix_gives_the_same_suffix_and_is_never_modified():
    backbone, expert = build()
    seg = Segments(images=4, prompt=3, suffix=5)
    pad = torch.ones(2, seg.total, dtype=torch.bool)
    pad[1, 5] = False  # a padded prompt token in the second sample
    allowed, positions = fused_masks(seg, pad)
    mask = additive(allowed)
    prefix, cond = torch.randn(2, seg.prefix, BACKBONE.width), torch.randn(2, EXPERT.width)
    prefix_out, cache = prefix_pass(
        backbone, prefix, mask[:, :, : seg.prefix, : seg.prefix], positions[:, : seg.prefix]
    )
    frozen = [(k.clone(), v.clone()) for k, v in cache]
    for step in range(3):  # like denoising steps: new suffix, same cache
        suffix = torch.randn(2, 5, EXPERT.width, generator=torch.Generator().manual_seed(step))
        full_prefix, full_suffix = joint_forward([backbone, expert], [prefix, suffix], mask, positions, cond)
        cached = suffix_pass(expert, suffix, cache, mask[:, :, seg.prefix :], positions[:, seg.prefix :], cond=cond)
        torch.testing.assert_close(cached, full_suffix, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(prefix_out[0], full_prefix[0], rtol=1e-5, atol=1e-5)
    for (k, v), (k0, v0) in zip(cache, frozen, strict=True):
        assert torch.equal(k, k0) and torch.equal(v, v0), "sampling changed the prefix cache"
