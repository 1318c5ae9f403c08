"""Per-episode statistics and their aggregation, as LeRobot computes them.

Numeric features: per dimension over the episode's frames. Videos: per channel over evenly
spaced sample frames, downsampled to about 150 px, in [0, 1], shape (3, 1, 1); LeRobot's
number of samples (n^0.75, 100 to 10,000) up to a factor of two, every s-th frame with s a
power of two, so that frames can be sampled as they stream by without knowing n. Quantiles
are exact here (LeRobot approximates them with running histograms); aggregation over
episodes is LeRobot's: count-weighted means and quantiles, pooled std.
"""

from __future__ import annotations

import numpy as np

from lerobot_recorder.v3_format import QUANTILES

Stats = dict[str, np.ndarray]


def sample_count(n: int, low: int = 100, high: int = 10_000, power: float = 0.75) -> int:
    if n < low:
        return n
    return max(low, min(int(n**power), high))


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


class ImageStats:
    """Per-channel stats of sampled uint8 frames from 256-bin histograms: exact (quantiles as
    np.quantile interpolates them), in constant memory however many frames there are.

    Frames come one at a time. Every `stride`-th is sampled; the stride doubles whenever the
    samples would exceed twice `sample_count` of the frames so far. A sampled frame's histogram
    is summed by its index's number of trailing zero bits, so that the frames at multiples of
    any later stride can still be told apart from the rest.
    """

    def __init__(self) -> None:
        self.levels = np.zeros((64, 3, 256), dtype=np.int64)
        self.stride = 1
        self.frames = 0

    def add(self, frame: np.ndarray) -> None:
        index = self.frames
        self.frames += 1
        while -(-self.frames // self.stride) > 2 * sample_count(self.frames):
            self.stride *= 2
        if index % self.stride:
            return
        pixels = downsample(frame).reshape(-1, 3)
        level = 63 if index == 0 else (index & -index).bit_length() - 1
        for channel in range(3):
            self.levels[level, channel] += np.bincount(pixels[:, channel], minlength=256)

    @property
    def histogram(self) -> np.ndarray:
        """The sampled frames' histogram: those at multiples of the final stride."""
        return self.levels[self.stride.bit_length() - 1 :].sum(axis=0)

    def result(self) -> Stats:
        histogram = self.histogram
        values = np.arange(256) / 255.0
        total = histogram.sum(axis=1)  # pixels per channel
        mean = (histogram * values).sum(axis=1) / total
        std = np.sqrt((histogram * (values[None, :] - mean[:, None]) ** 2).sum(axis=1) / total)
        present = histogram > 0
        stats = {
            "min": values[present.argmax(axis=1)],
            "max": values[255 - present[:, ::-1].argmax(axis=1)],
            "mean": mean,
            "std": std,
        }
        cumulative = histogram.cumsum(axis=1)
        for key, q in QUANTILES.items():
            position = q * (total - 1)  # np.quantile's linear method: between two order statistics
            low = np.array([np.searchsorted(cumulative[c], np.floor(position[c]), side="right") for c in range(3)])
            high = np.array([np.searchsorted(cumulative[c], np.ceil(position[c]), side="right") for c in range(3)])
            stats[key] = values[low] + (position - np.floor(position)) * (values[high] - values[low])
        result = {k: v.reshape(3, 1, 1) for k, v in stats.items()}
        result["count"] = np.array([-(-self.frames // self.stride)])  # the sampled frames
        return result


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
