"""Gemma stacks that attend jointly: the PaliGemma backbone and the action expert.

Each expert normalizes and projects its own tokens; queries, keys and values of all experts
are concatenated along the sequence, rotated with shared positions and attend together
under one mask; the result is split back and each expert applies its own output
projection, MLP and residuals (gated in the expert, whose norms are adaptive). Parameter
names follow pi05 checkpoints (`layers.N.self_attn.q_proj`, `mlp.gate_proj`,
`input_layernorm.dense`, ...), so loading is a key-by-key copy.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from lerobot_policy.configuration import GemmaSize
from lerobot_policy.layers import AdaptiveRMSNorm, RMSNorm, gated_residual, rope


class Attention(nn.Module):
    def __init__(self, size: GemmaSize) -> None:
        super().__init__()
        self.head_dim = size.head_dim
        self.q_proj = nn.Linear(size.width, size.num_heads * size.head_dim, bias=False)
        self.k_proj = nn.Linear(size.width, size.num_kv_heads * size.head_dim, bias=False)
        self.v_proj = nn.Linear(size.width, size.num_kv_heads * size.head_dim, bias=False)
        self.o_proj = nn.Linear(size.num_heads * size.head_dim, size.width, bias=False)

    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch, tokens, _ = x.shape
        split = lambda t: t.view(batch, tokens, -1, self.head_dim).transpose(1, 2)  # noqa: E731 - (B, heads, n, hd)
        return split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))


class MLP(nn.Module):
    def __init__(self, size: GemmaSize) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(size.width, size.mlp_dim, bias=False)
        self.up_proj = nn.Linear(size.width, size.mlp_dim, bias=False)
        self.down_proj = nn.Linear(size.mlp_dim, size.width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.gelu(self.gate_proj(x), approximate="tanh") * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, size: GemmaSize, cond_dim: int | None = None) -> None:
        super().__init__()
        self.self_attn = Attention(size)
        self.mlp = MLP(size)
        norm = (lambda: AdaptiveRMSNorm(size.width, cond_dim)) if cond_dim else (lambda: RMSNorm(size.width))
        self.input_layernorm = norm()
        self.post_attention_layernorm = norm()


class GemmaStack(nn.Module):
    """The layers and final norm of one expert (adaptive norms when `cond_dim` is given)."""

    def __init__(self, size: GemmaSize, cond_dim: int | None = None) -> None:
        super().__init__()
        self.size = size
        self.layers = nn.ModuleList(DecoderLayer(size, cond_dim) for _ in range(size.depth))
        self.norm = AdaptiveRMSNorm(size.width, cond_dim) if cond_dim else RMSNorm(size.width)

    def layer(self, index: int) -> DecoderLayer:
        return cast(DecoderLayer, self.layers[index])

    @property
    def dtype(self) -> torch.dtype:
        """The dtype its hidden states travel in: its projections' (norms may stay fp32)."""
        return self.layer(0).self_attn.q_proj.weight.dtype


def _norm(module: nn.Module, x: torch.Tensor, cond: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(module, AdaptiveRMSNorm):
        return module(x, cond)
    return module(x), None


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Scaled dot-product attention under an additive mask; PyTorch's fused kernels accumulate
    the softmax in fp32, as Gemma's eager attention does, without materializing the scores."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask.to(q.dtype), scale=q.shape[-1] ** -0.5)


KeysValues = tuple[torch.Tensor, torch.Tensor]  # (B, kv heads, N, hd) each, rotated
PrefixCache = list[KeysValues]  # per layer: the prefix's keys and values, for sampling


def joint_layer(
    layers: list[DecoderLayer],
    hiddens: list[torch.Tensor | None],
    mask: torch.Tensor,  # (B, 1, rows, past + N) additive
    positions: torch.Tensor,  # (B, N)
    cond: torch.Tensor | None,
    *,
    past: KeysValues | None = None,
    insulate: bool = False,
    keep_from: list[int] | None = None,
) -> tuple[list[torch.Tensor | None], KeysValues]:
    """One layer of every expert: the one place a decoder layer is written, for the joint
    training pass, the prefix pass that fills the sampling cache and the denoising steps that
    read it. `past`: keys and values of earlier tokens (the prefix cache) that the queries
    also attend to, never written. `keep_from[i]`: the first of expert i's rows to compute
    past attention (all of its rows still give keys and values); the others are dropped, and
    an expert with no row left returns None. Also returns this layer's own keys and values."""
    given = {i: h for i, h in enumerate(hiddens) if h is not None}
    present = list(given)
    starts = {i: (keep_from[i] if keep_from else 0) for i in present}
    lengths: list[int] = []
    gates: dict[int, torch.Tensor | None] = {}
    parts: dict[str, list[torch.Tensor]] = {"q": [], "k": [], "v": []}
    for i in present:
        normed, gates[i] = _norm(layers[i].input_layernorm, given[i], cond)
        for name, tensor in zip("qkv", layers[i].self_attn.qkv(normed), strict=True):
            parts[name].append(tensor)
        lengths.append(given[i].shape[1])
    kept = [tokens - starts[i] for i, tokens in zip(present, lengths, strict=True)]
    q, k, v = (torch.cat(parts[name], dim=2) for name in "qkv")  # (B, heads, N, hd)
    q, k = rope(q, positions), rope(k, positions)
    own = (k, v)
    if past is not None:
        k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)  # new tensors: the cache stays
    if keep_from:
        offsets = [sum(lengths[:j]) for j in range(len(lengths))]
        selected = torch.cat([torch.arange(offset + starts[i], offset + tokens, device=q.device)
                              for i, offset, tokens in zip(present, offsets, lengths, strict=True)])  # fmt: skip
        q, mask = q[:, :, selected], mask[:, :, selected]
    groups = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    if insulate and len(present) > 1:
        # the expert reads the prefix's keys and values without sending gradients into them
        p, pq = lengths[0], kept[0]
        k_frozen = torch.cat([k[:, :, :p].detach(), k[:, :, p:]], dim=2)
        v_frozen = torch.cat([v[:, :, :p].detach(), v[:, :, p:]], dim=2)
        out = torch.cat(
            [_attend(q[:, :, :pq], k, v, mask[:, :, :pq]), _attend(q[:, :, pq:], k_frozen, v_frozen, mask[:, :, pq:])],
            dim=2,
        )
    else:
        out = _attend(q, k, v, mask)
    out = out.transpose(1, 2).reshape(out.shape[0], out.shape[2], -1)  # (B, kept rows, heads * hd)
    results: list[torch.Tensor | None] = [None] * len(hiddens)
    for i, chunk in zip(present, out.split(kept, dim=1), strict=True):
        if chunk.shape[1] == 0:
            continue
        layer = layers[i]
        x = gated_residual(given[i][:, starts[i] :], layer.self_attn.o_proj(chunk), gates[i])
        normed, gate = _norm(layer.post_attention_layernorm, x, cond)
        results[i] = gated_residual(x, layer.mlp(normed), gate)
    return results, own


def joint_forward(
    stacks: list[GemmaStack],
    hiddens: list[torch.Tensor | None],
    mask: torch.Tensor,
    positions: torch.Tensor,
    cond: torch.Tensor | None = None,
    *,
    insulate: bool = False,
    keep_from: list[int] | None = None,
    past: PrefixCache | None = None,
    record: PrefixCache | None = None,
) -> list[torch.Tensor | None]:
    """All layers of all experts over their tokens (None: an expert without tokens), then
    each expert's final norm. With `keep_from`, each expert's output holds only its rows
    from keep_from[i] on: the last layer computes nothing past attention for rows whose
    output nobody reads (image tokens in training, the whole prefix for flow only). `past`:
    a prefix cache every layer reads; `record`: a list each layer's keys and values are
    appended to."""
    depth = stacks[0].size.depth
    for index in range(depth):
        last = keep_from if index == depth - 1 else None
        layers = [s.layer(index) for s in stacks]
        layer_past = past[index] if past else None
        hiddens, keys_values = joint_layer(
            layers, hiddens, mask, positions, cond, past=layer_past, insulate=insulate, keep_from=last
        )
        if record is not None:
            record.append(keys_values)
    return [None if h is None else _norm(s.norm, h, cond)[0] for s, h in zip(stacks, hiddens, strict=True)]


def prefix_pass(
    backbone: GemmaStack, prefix: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor
) -> tuple[torch.Tensor, PrefixCache]:
    """The backbone over the prefix alone, keeping every layer's keys and values for sampling."""
    cache: PrefixCache = []
    (out,) = joint_forward([backbone], [prefix], mask, positions, record=cache)
    assert out is not None  # the prefix has tokens
    return out, cache


def suffix_pass(
    expert: GemmaStack,
    suffix: torch.Tensor,
    cache: PrefixCache,
    mask: torch.Tensor,  # (B, 1, S, P + S) additive: the suffix rows
    positions: torch.Tensor,  # (B, S)
    *,
    cond: torch.Tensor,
) -> torch.Tensor:
    """The action expert over the suffix, reading the prefix cache: one denoising step costs
    only the suffix's tokens."""
    (out,) = joint_forward([expert], [suffix], mask, positions, cond, past=cache)
    assert out is not None  # the suffix has tokens
    return out
