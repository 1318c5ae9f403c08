"""Cutting a bag's time line into episodes: the whole bag, episode events, or time gaps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from lerobot_recorder.errors import MappingError

Segmentation = Literal["bag", "events", "gap"]
START, STOP_KEEP, STOP_DISCARD = 0, 1, 2  # lerobot_msgs/EpisodeEvent


@dataclass(frozen=True)
class Span:
    start_ns: int
    end_ns: int
    task: str | None = None


def from_events(events: list[tuple[int, int, str]], bag: str) -> list[Span]:
    """(stamp, event, task) in time order -> kept spans; discarded ones are skipped, and an
    episode that was started but never stopped is an error (it may be incomplete)."""
    spans, open_start, open_task = [], None, None
    for stamp, event, task in sorted(events):
        if event == START:
            if open_start is not None:
                raise MappingError(
                    f"bag {bag}: an episode starts at {stamp / 1e9:.3f} s "
                    f"while the one started at {open_start / 1e9:.3f} s was never stopped"
                )
            open_start, open_task = stamp, task
        elif open_start is not None:
            if event == STOP_KEEP:
                spans.append(Span(open_start, stamp, open_task or task or None))
            open_start = None
    if open_start is not None:
        raise MappingError(
            f"bag {bag}: the episode started at {open_start / 1e9:.3f} s has no stop event; "
            "convert with --segment bag to take the bag as it is"
        )
    return spans


def from_gaps(stamps: np.ndarray, gap_s: float) -> list[Span]:
    """Split where the reference stream (state) pauses longer than gap_s."""
    if len(stamps) == 0:
        return []
    cuts = np.flatnonzero(np.diff(stamps) > gap_s * 1e9)
    starts = np.concatenate([[0], cuts + 1])
    ends = np.concatenate([cuts, [len(stamps) - 1]])
    return [Span(int(stamps[s]), int(stamps[e]) + 1) for s, e in zip(starts, ends, strict=True) if e > s]
