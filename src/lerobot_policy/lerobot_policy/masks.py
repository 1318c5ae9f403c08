"""Attention masks and positions of the fused forward, where every block rule lives.

Token order: [images | prompt | text targets | FAST | suffix (noisy actions)].
Blocks come from cumulative attention flags (a token sees every token whose cumulative flag
is not larger than its own): images and prompt form one bidirectional block; text targets and
FAST tokens are causal (a target must not see itself or later ones, or its loss is solved by
copying); the suffix is one block. Right after the mask is built, the suffix is forbidden to
see FAST: the FAST tokens encode the very actions the suffix must predict from noise.
Positions: the suffix continues after the non-FAST prefix, as at inference, where no FAST
tokens exist. Several noise draws of one sample share its prefix: their suffixes follow each
other, each seeing the prefix and itself only, at the same positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NEG_INF = -2.3819763e38  # the additive-mask value the pi05 checkpoints were trained with


def make_att_2d_masks(pad_masks: torch.Tensor, att_masks: torch.Tensor) -> torch.Tensor:
    """(B, N) padding and attention flags -> (B, N, N) bool: query i may attend key j."""
    cumulative = torch.cumsum(att_masks.long(), dim=1)
    allowed = cumulative[:, None, :] <= cumulative[:, :, None]
    return allowed & pad_masks[:, None, :] & pad_masks[:, :, None]


@dataclass(frozen=True)
class Segments:
    """Lengths of the token segments (the same for every sample of a batch; padding marks
    the unused tail of each segment)."""

    images: int
    prompt: int
    targets: int = 0
    fast: int = 0
    suffix: int = 0

    @property
    def fast_start(self) -> int:
        return self.images + self.prompt + self.targets

    @property
    def prefix(self) -> int:
        return self.fast_start + self.fast

    @property
    def total(self) -> int:
        return self.prefix + self.suffix


def attention_flags(segments: Segments, batch: int, device: torch.device | None = None) -> torch.Tensor:
    flags = torch.zeros(batch, segments.total, dtype=torch.long, device=device)
    flags[:, segments.images + segments.prompt : segments.prefix] = 1  # text targets and FAST: causal
    if segments.suffix:
        flags[:, segments.prefix] = 1  # the suffix starts a new block
    return flags


def fused_masks(segments: Segments, pad_masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, N) padding -> ((B, N, N) bool attention, (B, N) position ids) of the fused forward."""
    batch = pad_masks.shape[0]
    if pad_masks.shape[1] != segments.total:
        raise ValueError(f"padding covers {pad_masks.shape[1]} tokens, the segments {segments.total}")
    allowed = make_att_2d_masks(pad_masks, attention_flags(segments, batch, pad_masks.device))
    allowed[:, segments.prefix :, segments.fast_start : segments.prefix] = False  # suffix -> FAST: never
    return allowed, positions(segments, pad_masks)


def positions(segments: Segments, pad_masks: torch.Tensor) -> torch.Tensor:
    """RoPE positions: counting valid tokens, with the suffix skipping the FAST tokens."""
    counted = torch.cumsum(pad_masks.long(), dim=1) - 1
    if segments.fast and segments.suffix:
        fast_valid = pad_masks[:, segments.fast_start : segments.prefix].sum(dim=1, keepdim=True)
        counted[:, segments.prefix :] -= fast_valid
    return counted


def additive(allowed: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, N, N) bool -> (B, 1, N, N) additive mask for attention scores: 0 or NEG_INF."""
    return torch.where(allowed[:, None], torch.tensor(0.0, dtype=dtype), torch.tensor(NEG_INF, dtype=dtype))


def repeat_suffix(
    allowed: torch.Tensor, positions: torch.Tensor, prefix: int, repeats: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The masks and positions of one suffix -> those of `repeats` suffixes after the same
    prefix: each sees the prefix as the one suffix did and itself, never another; the prefix
    sees none of them."""
    if repeats == 1:
        return allowed, positions
    batch, total = positions.shape
    suffix = total - prefix
    size = prefix + repeats * suffix
    out = torch.zeros(batch, size, size, dtype=torch.bool, device=allowed.device)
    out[:, :prefix, :prefix] = allowed[:, :prefix, :prefix]
    for r in range(repeats):
        rows = slice(prefix + r * suffix, prefix + (r + 1) * suffix)
        out[:, rows, :prefix] = allowed[:, prefix:, :prefix]
        out[:, rows, rows] = allowed[:, prefix:, prefix:]
    return out, torch.cat([positions[:, :prefix], positions[:, prefix:].repeat(1, repeats)], dim=1)
