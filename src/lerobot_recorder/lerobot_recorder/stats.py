"""Per-episode statistics and their aggregation, as LeRobot computes them.

Numeric features: per dimension over the episode's frames. Videos: per channel over evenly
spaced sample frames, downsampled to about 150 px, in [0, 1], shape (3, 1, 1). Quantiles are
exact here (LeRobot approximates them with running histograms); aggregation over episodes
is LeRobot's: count-weighted means and quantiles, pooled std.
"""

from __future__ import annotations

import numpy as np

from lerobot_recorder.v3_format import QUANTILES

Stats = dict[str, np.ndarray]


def sample_count(n: int, low: int = 100, high: int = 10_000, power: float = 0.75) -> int:
    if n < low:
        return n
    return max(low, min(int(n**power), high))


def sample_indices(n: int) -> list[int]:
    """Which frames of an n-frame episode go into its image stats."""
    return np.round(np.linspace(0, n - 1, sample_count(n))).astype(int).tolist()


def downsample(image: np.ndarray, target: int = 150, threshold: int = 300) -> np.ndarray:
    """(H, W, C) -> strided to about `target` px on the long side, if larger than `threshold`."""
    height, width = image.shape[:2]
    if max(height, width) < threshold:
        return image
    factor = int(max(height, width) / target)
    return image[::factor, ::factor]


def _stats(values: np.ndarray, count: int) -> Stats:
    stats = {
        "min": values.min(axis=0),
        "max": values.max(axis=0),
        "mean": values.mean(axis=0),
        "std": values.std(axis=0),
        "count": np.array([count]),
    }
    if len(values) < 2:
        stats.update({key: stats["mean"].copy() for key in QUANTILES})
    else:
        quantiles = np.quantile(values, list(QUANTILES.values()), axis=0)
        stats.update(dict(zip(QUANTILES, quantiles, strict=True)))
    return stats


def numeric_stats(values: np.ndarray) -> Stats:
    """(frames, dims) or (frames,) -> stats per dimension."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        return {k: np.atleast_1d(v) for k, v in _stats(array.reshape(-1, 1), len(array)).items()}
    return _stats(array, len(array))


def image_stats(samples: list[np.ndarray]) -> Stats:
    """Sampled (H, W, 3) uint8 frames -> per-channel stats in [0, 1], shaped (3, 1, 1)."""
    stacked = np.stack([downsample(s) for s in samples])  # (N, h, w, 3)
    pixels = stacked.reshape(-1, 3).astype(np.float64) / 255.0
    stats = _stats(pixels, len(samples))
    return {k: v if k == "count" else v.reshape(3, 1, 1) for k, v in stats.items()}


def aggregate(per_episode: list[Stats]) -> Stats:
    counts = np.array([s["count"][0] for s in per_episode], dtype=np.float64)
    total = counts.sum()
    shape = (-1,) + (1,) * (np.asarray(per_episode[0]["mean"]).ndim)
    weights = counts.reshape(shape)
    means = np.stack([s["mean"] for s in per_episode])
    mean = (means * weights).sum(axis=0) / total
    variance = ((np.stack([s["std"] for s in per_episode]) ** 2 + (means - mean) ** 2) * weights).sum(axis=0) / total
    result = {
        "min": np.min(np.stack([s["min"] for s in per_episode]), axis=0),
        "max": np.max(np.stack([s["max"] for s in per_episode]), axis=0),
        "mean": mean,
        "std": np.sqrt(variance),
        "count": np.array([int(total)]),
    }
    for key in QUANTILES:
        result[key] = (np.stack([s[key] for s in per_episode]) * weights).sum(axis=0) / total
    return result


def to_json(stats: dict[str, Stats]) -> dict:
    return {feature: {k: np.asarray(v).tolist() for k, v in s.items()} for feature, s in stats.items()}


def from_json(raw: dict) -> dict[str, Stats]:
    return {feature: {k: np.asarray(v) for k, v in s.items()} for feature, s in raw.items()}
