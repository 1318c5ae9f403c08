"""Cutting a bag's time line into episodes: episode events, or pauses and task changes, or
(on request) the whole bag as one."""

from __future__ import annotations

import itertools
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


def from_events(events: list[tuple[int, int, str]], bag: str, cut_ns: int | None = None) -> list[Span]:
    """(stamp, event, task) in time order -> kept spans; discarded ones are skipped, and an
    episode that was started but never stopped is an error (it may be incomplete), unless the
    recording was cut (`cut_ns`, a salvaged bag): then it ends at the cut."""
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
    if open_start is not None and cut_ns is not None:
        spans.append(Span(open_start, cut_ns + 1, open_task))
    elif open_start is not None:
        raise MappingError(
            f"bag {bag}: the episode started at {open_start / 1e9:.3f} s has no stop event; "
            "convert with --segment bag to take the bag as it is"
        )
    return spans


def default_segmentation(has_events: bool) -> Segmentation:
    """What the bag holds decides: its episode events, else its pauses and task changes."""
    return "events" if has_events else "gap"


def describe(segmentation: Segmentation, gap_s: float) -> str:
    return {
        "events": "episode events",
        "gap": f"pauses longer than {gap_s:g} s and task changes",
        "bag": "the whole bag as one episode",
    }[segmentation]


def task_changes(tasks: list[tuple[int, str]]) -> np.ndarray:
    """Receive times (ns) of task messages whose text differs from the one before."""
    changes = [stamp for (_, before), (stamp, text) in itertools.pairwise(tasks) if text != before]
    return np.asarray(changes, dtype=np.int64)


def from_gaps(receive_ns: np.ndarray, stamps: np.ndarray, gap_s: float, changes_ns: np.ndarray) -> list[Span]:
    """Split where the reference stream (state) pauses longer than gap_s, or where the task
    changes, by receive time; each part spans the stamps its messages are aligned by (header
    stamps may run ahead or behind). A part of one message is no episode."""
    if len(receive_ns) == 0:
        return []
    order = np.argsort(receive_ns, kind="stable")
    received = receive_ns[order]
    cuts = {int(i) for i in np.flatnonzero(np.diff(received) > gap_s * 1e9) + 1}
    cuts |= {int(i) for i in np.searchsorted(received, changes_ns, side="left") if 0 < i < len(received)}
    parts = np.split(order, sorted(cuts))
    return [Span(int(stamps[part].min()), int(stamps[part].max()) + 1) for part in parts if len(part) > 1]
