"""Putting streams recorded at their own rates onto one fixed-fps grid.

Per stream, a policy picks the sample for each grid time t:
- hold: the latest sample at or before t, if no older than max_age_s (no look-ahead);
- nearest: the sample closest to t, before or after, within tolerance_s;
- drop: a sample fresh within this frame, (t - 1/fps, t]; never reused.
A grid time where any stream has no acceptable sample is dropped from the episode, and the
quality report says which stream caused it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from lerobot_recorder.errors import MappingError

Policy = Literal["hold", "nearest", "drop"]


@dataclass(frozen=True)
class AlignPolicy:
    policy: Policy = "hold"
    max_age_s: float = 0.1
    tolerance_s: float = 0.02

    def __post_init__(self) -> None:
        if self.policy not in ("hold", "nearest", "drop"):
            raise MappingError(f"alignment policy {self.policy!r} is unknown; use hold, nearest or drop")
        if self.max_age_s <= 0 or self.tolerance_s <= 0:
            raise MappingError(f"max_age_s and tolerance_s must be > 0, got {self}")


@dataclass
class StreamTimes:
    """The stamps of one stream (ns, sorted) and, per stamp, what was repaired on the way."""

    name: str
    stamps: np.ndarray  # int64, sorted ascending
    order: np.ndarray  # position of each sorted stamp in the stream's message order
    zero: np.ndarray | None = None  # bool per sorted stamp: no header stamp, receive time taken
    backwards: np.ndarray | None = None  # bool per sorted stamp: older than the message before it

    @classmethod
    def build(cls, name: str, header_ns: np.ndarray, receive_ns: np.ndarray, offset_ns: int = 0) -> StreamTimes:
        """Header stamps where usable (zero: absent, receive time taken), minus a latency offset,
        sorted; out-of-order stamps are counted, not trusted to arrive in order."""
        zero = np.asarray(header_ns) == 0
        raw = np.where(zero, receive_ns, header_ns).astype(np.int64) - offset_ns
        backwards = np.zeros(len(raw), dtype=bool)
        backwards[1:] = np.diff(raw) < 0
        order = np.argsort(raw, kind="stable")
        return cls(name, raw[order], order, zero[order], backwards[order])


def select(times: StreamTimes, grid: np.ndarray, policy: AlignPolicy, period_ns: int) -> np.ndarray:
    """For each grid time, the index (in message order) of the chosen sample, or -1."""
    stamps = times.stamps
    if len(stamps) == 0:
        return np.full(len(grid), -1)
    before = np.searchsorted(stamps, grid, side="right") - 1  # latest at or before t
    chosen = np.full(len(grid), -1)
    if policy.policy == "hold":
        ok = (before >= 0) & (grid - stamps[np.clip(before, 0, None)] <= policy.max_age_s * 1e9)
        chosen[ok] = before[ok]
    elif policy.policy == "drop":
        ok = (before >= 0) & (grid - stamps[np.clip(before, 0, None)] < period_ns)
        chosen[ok] = before[ok]
    else:
        after = np.clip(before + 1, 0, len(stamps) - 1)
        low = np.clip(before, 0, None)
        pick = np.where(np.abs(stamps[after] - grid) < np.abs(grid - stamps[low]), after, low)
        ok = np.abs(stamps[pick] - grid) <= policy.tolerance_s * 1e9
        chosen[ok] = pick[ok]
    return np.where(chosen >= 0, times.order[np.clip(chosen, 0, None)], -1)


@dataclass
class StreamQuality:
    samples: int
    dropped_frames: int = 0  # grid times dropped because this stream had nothing acceptable
    duplicated_frames: int = 0  # kept frames that reuse the previous frame's sample
    worst_staleness_s: float = 0.0  # largest |t - sample stamp| over kept frames
    gaps: list[tuple[float, float]] = field(default_factory=list)  # (start s, length s) > 2 periods
    zero_stamps: int = 0  # within the episode
    out_of_order: int = 0  # within the episode


@dataclass
class Alignment:
    grid_ns: np.ndarray  # kept grid times
    picks: dict[str, np.ndarray]  # stream -> message index per kept frame
    quality: dict[str, StreamQuality]
    dropped_frames: int


def grid_times(start_ns: int, first: int, stop: int, fps: int) -> np.ndarray:
    """Grid times first..stop-1 of a grid starting at start_ns: no drift from a rounded period."""
    return start_ns + np.round(np.arange(first, stop) * 1e9 / fps).astype(np.int64)


def align(
    streams: dict[str, StreamTimes], policies: dict[str, AlignPolicy], start_ns: int, end_ns: int, fps: int
) -> Alignment:
    period = round(1e9 / fps)
    if end_ns <= start_ns:
        return Alignment(np.empty(0, np.int64), {k: np.empty(0, int) for k in streams}, {}, 0)
    grid = grid_times(start_ns, 0, int(np.ceil((end_ns - start_ns) * fps / 1e9)), fps)
    grid = grid[grid < end_ns]
    raw = {name: select(streams[name], grid, policies[name], period) for name in streams}
    keep = np.all([picks >= 0 for picks in raw.values()], axis=0)
    quality = {}
    for name, times in streams.items():
        picks = raw[name][keep]
        kept_stamps = _stamps_of(times, picks)
        window = (times.stamps >= start_ns) & (times.stamps < end_ns)
        in_window = times.stamps[window]
        gaps = np.diff(in_window) if len(in_window) > 1 else np.empty(0)
        quality[name] = StreamQuality(
            samples=len(in_window),
            dropped_frames=int(np.sum(raw[name] < 0)),
            duplicated_frames=int(np.sum(picks[1:] == picks[:-1])) if len(picks) > 1 else 0,
            worst_staleness_s=float(np.max(np.abs(grid[keep] - kept_stamps)) / 1e9) if len(picks) else 0.0,
            gaps=[((in_window[i] - start_ns) / 1e9, gaps[i] / 1e9) for i in np.flatnonzero(gaps > 2 * period)],
            zero_stamps=int(np.sum(times.zero[window])) if times.zero is not None else 0,
            out_of_order=int(np.sum(times.backwards[window])) if times.backwards is not None else 0,
        )
    return Alignment(grid[keep], {name: raw[name][keep] for name in streams}, quality, int(np.sum(~keep)))


def _stamps_of(times: StreamTimes, message_indices: np.ndarray) -> np.ndarray:
    """Stamps of the given messages (inverse of the sort)."""
    inverse = np.empty_like(times.order)
    inverse[times.order] = np.arange(len(times.order))
    return times.stamps[inverse[message_indices]] if len(message_indices) else np.empty(0, np.int64)
