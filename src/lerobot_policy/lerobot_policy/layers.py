"""The model's small building blocks, named and shaped as in pi05 checkpoints.

Gemma's RMSNorm scales by (1 + weight) and computes in fp32; the action expert's adaptive
RMSNorm takes scale, shift and a residual gate from the flow-matching time condition (its
only parameters are `dense`, zero-initialised so a fresh expert starts as a plain norm).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return (normed * (1.0 + self.weight.float())).type_as(x)


class AdaptiveRMSNorm(nn.Module):
    """norm(x) * (1 + scale) + shift, and a gate for the residual, all from `cond`: (B, C)
    for all tokens, or (B, G, C) for G equal groups of tokens (one per noise draw)."""

    def __init__(self, dim: int, cond_dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.dense = nn.Linear(cond_dim, 3 * dim)
        nn.init.zeros_(self.dense.weight)
        nn.init.zeros_(self.dense.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        modulation = self.dense(cond).float()
        if modulation.dim() == 2:
            modulation = modulation[:, None, :]  # (B, 1, 3D): the same for every token
        else:  # (B, G, 3D) -> one row per token
            modulation = modulation.repeat_interleave(x.shape[1] // modulation.shape[1], dim=1)
        scale, shift, gate = modulation.chunk(3, dim=-1)
        return (normed * (1.0 + scale) + shift).type_as(x), gate.type_as(x)


def gated_residual(x: torch.Tensor, y: torch.Tensor, gate: torch.Tensor | None) -> torch.Tensor:
    return x + y if gate is None else x + y * gate


def sinusoidal_embedding(time: torch.Tensor, dim: int, min_period: float, max_period: float) -> torch.Tensor:
    """(B,) flow-matching times -> (B, dim) sine-cosine features (computed in fp64, as openpi)."""
    if dim % 2:
        raise ValueError(f"the time embedding dimension must be even, got {dim}")
    fraction = torch.linspace(0.0, 1.0, dim // 2, dtype=torch.float64, device=time.device)
    period = min_period * (max_period / min_period) ** fraction
    angle = (2 * math.pi / period)[None, :] * time.double()[:, None]
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1).float()


def sincos_2d(rows: int, cols: int, dim: int, temperature: float = 10_000.0) -> torch.Tensor:
    """(rows * cols, dim) patch position codes in row-major order, as big_vision's
    `posemb_sincos_2d`: neighbouring patches start with similar codes, so a ViT trained from
    scratch on few images can place an object between the places it was shown."""
    if dim % 4:
        raise ValueError(f"2D sine-cosine codes need a width divisible by 4, got {dim}")
    y, x = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    omega = 1.0 / temperature ** (torch.arange(dim // 4) / max(dim // 4 - 1, 1))
    y, x = y.flatten()[:, None] * omega, x.flatten()[:, None] * omega
    return torch.cat([x.sin(), x.cos(), y.sin(), y.cos()], dim=1)


def rope(x: torch.Tensor, positions: torch.Tensor, theta: float = 10_000.0) -> torch.Tensor:
    """Rotary embedding of (B, heads, N, head_dim) queries or keys at (B, N) positions."""
    half = x.shape[-1] // 2
    inverse = 1.0 / theta ** (torch.arange(0, half, dtype=torch.float32, device=x.device) / half)
    angles = positions.float()[:, None, :, None] * inverse  # (B, 1, N, half)
    cos, sin = torch.cat([angles.cos()] * 2, dim=-1), torch.cat([angles.sin()] * 2, dim=-1)
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return (x.float() * cos + rotated.float() * sin).type_as(x)
