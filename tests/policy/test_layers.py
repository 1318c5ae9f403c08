"""Building blocks against transformers' Gemma and the pi05 formulas."""

import math

import pytest
import torch
from transformers.models.gemma.configuration_gemma import GemmaConfig
from transformers.models.gemma.modeling_gemma import GemmaRMSNorm, GemmaRotaryEmbedding, apply_rotary_pos_emb

from lerobot_policy.configuration import PI05Config
from lerobot_policy.errors import PolicyError
from lerobot_policy.layers import AdaptiveRMSNorm, RMSNorm, gated_residual, rope, sincos_2d, sinusoidal_embedding
from lerobot_policy.modeling import PI05Policy


def test_rmsnorm_equals_gemma():
    torch.manual_seed(0)
    ours, theirs = RMSNorm(64), GemmaRMSNorm(64, eps=1e-6)
    with torch.no_grad():
        ours.weight.normal_()
        theirs.weight.copy_(ours.weight)
    x = torch.randn(2, 5, 64)
    torch.testing.assert_close(ours(x), theirs(x))


def test_adaptive_norm_starts_as_a_plain_norm_and_follows_the_formula():
    torch.manual_seed(0)
    norm = AdaptiveRMSNorm(16, cond_dim=8)
    x, cond = torch.randn(2, 3, 16), torch.randn(2, 8)
    out, gate = norm(x, cond)
    plain = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
    torch.testing.assert_close(out, plain)
    assert torch.equal(gated_residual(x, out, gate), x), "a zero gate keeps the residual stream"
    with torch.no_grad():
        norm.dense.weight.normal_()
        norm.dense.bias.normal_()
    out, gate = norm(x, cond)
    scale, shift, expected_gate = norm.dense(cond)[:, None].chunk(3, dim=-1)
    torch.testing.assert_close(out, plain * (1 + scale) + shift)
    torch.testing.assert_close(gate, expected_gate)


def test_sinusoidal_embedding_is_openpis():
    t = torch.tensor([0.0, 0.25, 1.0])
    emb = sinusoidal_embedding(t, 8, 4e-3, 4.0)
    periods = [4e-3 * (4.0 / 4e-3) ** (i / 3) for i in range(4)]
    expected = [
        [math.sin(2 * math.pi / p * ti) for p in periods] + [math.cos(2 * math.pi / p * ti) for p in periods]
        for ti in t.tolist()
    ]
    torch.testing.assert_close(emb, torch.tensor(expected), rtol=1e-6, atol=1e-6)


def test_sincos_2d_is_big_visions_posemb_in_siglips_patch_order():
    rows, cols, dim = 3, 4, 8  # SigLIP flattens its patch grid row by row: index = row * cols + col
    omega = [1 / 10_000 ** (i / (dim // 4 - 1)) for i in range(dim // 4)]
    expected = [
        [f(c * w) for f in (math.sin, math.cos) for w in omega]
        + [f(r * w) for f in (math.sin, math.cos) for w in omega]
        for r in range(rows)
        for c in range(cols)
    ]
    torch.testing.assert_close(sincos_2d(rows, cols, dim), torch.tensor(expected), rtol=1e-6, atol=1e-6)


def test_a_vision_tower_trained_from_scratch_can_start_from_sincos_positions():
    config = PI05Config.tiny(vision_position_init="sincos2d")
    tower = PI05Policy(config).model.paligemma_with_expert.paligemma.model.vision_tower
    table = getattr(tower, "vision_model", tower).embeddings.position_embedding.weight
    grid = config.image_resolution[0] // config.vision.patch
    torch.testing.assert_close(table.detach(), sincos_2d(grid, grid, config.vision.hidden))


def test_rope_equals_gemma():
    config = GemmaConfig(head_dim=32, num_attention_heads=2, hidden_size=64, rope_theta=10_000.0)
    rotary = GemmaRotaryEmbedding(config=config)
    q, k = torch.randn(2, 2, 7, 32), torch.randn(2, 2, 7, 32)
    positions = torch.tensor([[0, 1, 2, 3, 4, 5, 6], [0, 0, 1, 2, 5, 6, 7]])
    cos, sin = rotary(q, positions)
    expected_q, expected_k = apply_rotary_pos_emb(q, k, cos, sin)
    torch.testing.assert_close(rope(q, positions), expected_q, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(rope(k, positions), expected_k, rtol=1e-5, atol=1e-5)


def test_an_unknown_position_init_names_the_choices():
    with pytest.raises(PolicyError, match=r"vision_position_init 'sincos'.*'random', 'sincos2d'"):
        PI05Config.tiny(vision_position_init="sincos")
