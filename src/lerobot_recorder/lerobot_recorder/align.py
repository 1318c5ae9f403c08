"""Putting streams recorded at their own rates onto one fixed-fps grid.

Per stream, a policy picks the sample for each grid time t:
- hold: the latest sample at or before t, if no older than max_age_s (no look-ahead);
- nearest: the sample closest to t, before or after, within tolerance_s; when a camera
  missed its window (a dropped frame), the nearest one within fill_periods grid periods,
  counted as filled;
- drop: a sample fresh within this frame, (t - 1/fps, t]; never reused.
Inside an episode every grid tick is a frame, so frame k is at start + k / fps, as LeRobot
reads it. A tick where a stream has no acceptable sample is never silently skipped: before
the first and after the last complete tick the episode is trimmed; in between, the episode
is cut there into two (the cut and the stale streams reported), or the conversion fails if
asked to.
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
    fill_periods: float = 1.5  # nearest: how far a missed window may be filled from, in grid periods

    def __post_init__(self) -> None:
        if self.policy not in ("hold", "nearest", "drop"):
            raise MappingError(f"alignment policy {self.policy!r} is unknown; use hold, nearest or drop")
        if self.max_age_s <= 0 or self.tolerance_s <= 0 or self.fill_periods < 0:
            raise MappingError(f"max_age_s and tolerance_s must be > 0 and fill_periods >= 0, got {self}")

    def reach_ns(self, period_ns: int) -> int:
        """How far from a grid time a sample may be and still feed it (either side for nearest)."""
        if self.policy == "hold":
            return round(self.max_age_s * 1e9)
        if self.policy == "drop":
            return period_ns
        return max(round(self.tolerance_s * 1e9), round(self.fill_periods * period_ns))


@dataclass
class StreamTimes:
    """The stamps of one stream (ns, sorted) and, per stamp, what was repaired on the way."""

    name: str
    stamps: np.ndarray  # int64, sorted ascending
    order: np.ndarray  # position of each sorted stamp in the stream's message order
    zero: np.ndarray | None = None  # bool per sorted stamp: no header stamp, receive time taken
    backwards: np.ndarray | None = None  # bool per sorted stamp: older than the message before it
    latency_ns: np.ndarray | None = None  # per sorted stamp: receive - header time (-1: no header stamp)

    @classmethod
    def build(
        cls, name: str, header_ns: np.ndarray, receive_ns: np.ndarray, offset_ns: int = 0, *, use_header: bool = True
    ) -> StreamTimes:
        """Header stamps where usable (zero: absent, receive time taken) or receive times, minus
        a latency offset, sorted; out-of-order stamps are counted, not trusted to arrive in order."""
        header_ns, receive_ns = np.asarray(header_ns, dtype=np.int64), np.asarray(receive_ns, dtype=np.int64)
        zero = header_ns == 0
        raw = (np.where(zero, receive_ns, header_ns) if use_header else receive_ns) - offset_ns
        backwards = np.zeros(len(raw), dtype=bool)
        backwards[1:] = np.diff(raw) < 0
        latency = np.where(zero, -1, receive_ns - header_ns)
        order = np.argsort(raw, kind="stable")
        return cls(name, raw[order], order, zero[order] if use_header else None, backwards[order], latency[order])


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
        ok = np.abs(stamps[pick] - grid) <= policy.reach_ns(period_ns)
        chosen[ok] = pick[ok]
    return np.where(chosen >= 0, times.order[np.clip(chosen, 0, None)], -1)


@dataclass
class StreamQuality:
    samples: int
    rate_hz: float = 0.0
    drops: list[tuple[float, int]] = field(default_factory=list)  # (at s, messages missing): intervals > 1.5 x median
    jitter_p50_ms: float = 0.0  # |stamp interval - median interval|
    jitter_p99_ms: float = 0.0
    latency_mean_ms: float | None = None  # receive time - header stamp (None: no header stamps)
    latency_p99_ms: float | None = None
    filled_frames: int = 0  # nearest: frames fed from outside the tolerance (a missed window)
    duplicated_frames: int = 0  # frames that reuse the previous frame's sample
    worst_staleness_s: float = 0.0  # largest |t - sample stamp| over the frames
    gaps: list[tuple[float, float]] = field(default_factory=list)  # (start s, length s) > 2 periods
    zero_stamps: int = 0  # within the episode
    out_of_order: int = 0  # within the episode


@dataclass(frozen=True)
class Cut:
    """Ticks where a stream had nothing acceptable: the episode ends before them."""

    at_ns: int  # the first tick without a frame
    frames: int  # how many ticks in a row
    stale: tuple[str, ...]  # the streams that had nothing


@dataclass
class Alignment:
    """One run of complete ticks: an episode."""

    grid_ns: np.ndarray  # every tick, start + k / fps
    picks: dict[str, np.ndarray]  # stream -> message index per frame
    quality: dict[str, StreamQuality]
    cut_after: Cut | None = None  # what ended it before its span did
    trimmed_frames: int = 0  # ticks before it (at the span's start) without every stream


def grid_times(start_ns: int, first: int, stop: int, fps: int) -> np.ndarray:
    """Grid times first..stop-1 of a grid starting at start_ns: no drift from a rounded period."""
    return start_ns + np.round(np.arange(first, stop) * 1e9 / fps).astype(np.int64)


def align(
    streams: dict[str, StreamTimes], policies: dict[str, AlignPolicy], start_ns: int, end_ns: int, fps: int
) -> list[Alignment]:
    """The runs of complete ticks between start_ns and end_ns, in order."""
    period = round(1e9 / fps)
    if end_ns <= start_ns:
        return []
    grid = grid_times(start_ns, 0, int(np.ceil((end_ns - start_ns) * fps / 1e9)), fps)
    grid = grid[grid < end_ns]
    raw = {name: select(streams[name], grid, policies[name], period) for name in streams}
    complete = np.all([picks >= 0 for picks in raw.values()], axis=0)
    runs = _runs(complete)
    episodes = []
    for number, (a, b) in enumerate(runs):
        picks = {name: raw[name][a:b] for name in streams}
        quality = {
            name: _quality(times, policies[name], grid[a:b], picks[name], period) for name, times in streams.items()
        }
        cut = None
        if number + 1 < len(runs):
            hole = slice(b, runs[number + 1][0])
            cut = Cut(int(grid[b]), hole.stop - b, tuple(n for n in streams if np.any(raw[n][hole] < 0)))
        episodes.append(Alignment(grid[a:b], picks, quality, cut, a if number == 0 else 0))
    return episodes


def _runs(complete: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of every run of True."""
    edges = np.diff(np.concatenate([[0], complete.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def _quality(
    times: StreamTimes, policy: AlignPolicy, grid: np.ndarray, picks: np.ndarray, period: int
) -> StreamQuality:
    start, end = int(grid[0]), int(grid[-1]) + period
    window = (times.stamps >= start) & (times.stamps < end)
    in_window = times.stamps[window]
    gaps = np.diff(in_window) if len(in_window) > 1 else np.empty(0)
    distance = np.abs(grid - _stamps_of(times, picks))
    filled = int(np.sum(distance > policy.tolerance_s * 1e9)) if policy.policy == "nearest" else 0
    typical = float(np.median(gaps)) if len(gaps) else 0.0
    duration = float(in_window[-1] - in_window[0]) if len(in_window) > 1 else 0.0
    deviation = np.abs(gaps - typical) / 1e6 if len(gaps) else np.zeros(1)
    dropped = np.flatnonzero(gaps > 1.5 * typical) if typical > 0 else np.empty(0, int)
    latency = times.latency_ns[window] if times.latency_ns is not None else np.empty(0)
    latency = latency[latency >= 0] / 1e6
    return StreamQuality(
        samples=len(in_window),
        rate_hz=len(gaps) * 1e9 / duration if duration else 0.0,
        drops=[((in_window[i] - start) / 1e9, round(float(gaps[i]) / typical) - 1) for i in dropped],
        jitter_p50_ms=float(np.percentile(deviation, 50)),
        jitter_p99_ms=float(np.percentile(deviation, 99)),
        latency_mean_ms=float(latency.mean()) if len(latency) else None,
        latency_p99_ms=float(np.percentile(latency, 99)) if len(latency) else None,
        filled_frames=filled,
        duplicated_frames=int(np.sum(picks[1:] == picks[:-1])),
        worst_staleness_s=float(np.max(distance) / 1e9),
        gaps=[((in_window[i] - start) / 1e9, gaps[i] / 1e9) for i in np.flatnonzero(gaps > 2 * period)],
        zero_stamps=int(np.sum(times.zero[window])) if times.zero is not None else 0,
        out_of_order=int(np.sum(times.backwards[window])) if times.backwards is not None else 0,
    )


def _stamps_of(times: StreamTimes, message_indices: np.ndarray) -> np.ndarray:
    """Stamps of the given messages (inverse of the sort)."""
    inverse = np.empty_like(times.order)
    inverse[times.order] = np.arange(len(times.order))
    return times.stamps[inverse[message_indices]] if len(message_indices) else np.empty(0, np.int64)
