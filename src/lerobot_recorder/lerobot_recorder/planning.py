"""What an episode is made of: its span of the bag, the alignment of every stream over it,
its numeric columns and task, and the report on how well the streams fit the grid."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_recorder.align import Alignment, AlignPolicy, Cut, StreamTimes, align
from lerobot_recorder.content import BagContent
from lerobot_recorder.episodes import Segmentation, Span, from_events, from_gaps, task_changes
from lerobot_recorder.errors import MappingError
from lerobot_recorder.spec import DatasetSpec


def spans_of(content: BagContent, spec: DatasetSpec, segmentation: Segmentation, gap_s: float) -> list[Span]:
    """Episode spans in the stamps the streams are aligned by, so that a span starts with the
    first state message however far its header stamp runs ahead of its receive time."""
    if segmentation == "events":
        return event_spans(content, spec)
    stamps = message_stamps(content, spec, "observation.state")
    if segmentation == "gap":
        receive = content.numeric["observation.state"].receive_ns.array
        return from_gaps(receive, stamps, gap_s, task_changes(content.tasks))
    return [Span(int(stamps.min()), int(stamps.max()) + 1)]


def message_stamps(content: BagContent, spec: DatasetSpec, name: str) -> np.ndarray:
    """The stamp each message of stream `name` is aligned by, in message order."""
    times = stream_times(content, spec, name)
    stamps = np.empty_like(times.stamps)
    stamps[times.order] = times.stamps
    return stamps


def event_spans(content: BagContent, spec: DatasetSpec) -> list[Span]:
    if not content.events:
        raise MappingError(f"bag {content.bag} has no episode events on {spec.events_topic}: use --segment bag or gap")
    return from_events(content.events, str(content.bag), content.cut_ns)


def task_for(span: Span, content: BagContent, override: str | None) -> str:
    if override:
        return override
    if span.task:
        return span.task
    before = [text for stamp, text in content.tasks if stamp <= span.end_ns]
    if before:
        return before[-1]
    raise MappingError(
        f"bag {content.bag}: no task for the episode at {span.start_ns / 1e9:.3f} s "
        "(no task topic message, no episode event): pass the task with --task"
    )


def latency_ns(spec: DatasetSpec, name: str) -> int:
    """The latency offset of a video key's camera; 0 for numeric streams."""
    camera = next((c for c in spec.cameras if f"observation.images.{c.name}" == name), None)
    return round(camera.latency_s * 1e9) if camera is not None else 0


def stream_times(content: BagContent, spec: DatasetSpec, name: str) -> StreamTimes:
    source = content.numeric.get(name) or content.cameras[name]
    return StreamTimes.build(
        name,
        source.header_ns.array,
        source.receive_ns.array,
        latency_ns(spec, name),
        use_header=spec.stamps == "header",
    )


def policies_for(content: BagContent, spec: DatasetSpec) -> dict[str, AlignPolicy]:
    """Each stream's alignment policy: images, state, action, or an extra feature's own."""
    policies = {name: spec.align["images"] for name in content.cameras}
    for name in content.numeric:  # extra features under their own name
        policies[name] = spec.align.get(name, spec.align["state"])
    policies["observation.state"] = spec.align["state"]
    if "action" in content.numeric:
        policies["action"] = spec.align["action"]
    return policies


@dataclass
class Aligned:
    """An episode as aligned: its span of the bag and its frames."""

    span: Span
    result: Alignment


def align_span(content: BagContent, spec: DatasetSpec, span: Span, on_stale: str = "cut") -> list[Aligned]:
    """The span's episodes: one, or more where a stale stream cuts it (`on_stale="fail"`:
    an error instead)."""
    streams = {name: stream_times(content, spec, name) for name in [*content.numeric, *content.cameras]}
    inside = [t.stamps[(t.stamps >= span.start_ns) & (t.stamps < span.end_ns)] for t in streams.values()]
    if any(len(s) == 0 for s in inside):
        empty = [n for n, s in zip(streams, inside, strict=True) if len(s) == 0]
        raise MappingError(
            f"bag {content.bag}: no {empty} data between {span.start_ns / 1e9:.3f} and {span.end_ns / 1e9:.3f} s"
        )
    start = max(int(s[0]) for s in inside)
    end = min(int(s[-1]) for s in inside) + 1
    runs = align(streams, policies_for(content, spec), start, end, spec.fps)
    if on_stale == "fail" and (cut := next((r.cut_after for r in runs if r.cut_after), None)):
        raise MappingError(
            f"bag {content.bag}: {list(cut.stale)} had nothing acceptable for {cut.frames} frame(s) from "
            f"{cut.at_ns / 1e9:.3f} s, which would cut the episode there. Raise the stream's max_age_s "
            "(hold) or fill_periods (nearest) in the profile's dataset.align, or convert with --on-stale cut"
        )
    kept = _whole_runs(runs)
    if not kept:
        raise MappingError(
            f"bag {content.bag}: the episode at {span.start_ns / 1e9:.3f} s aligns to fewer than 2 frames"
        )
    # the first and last episode keep the span's ends; a cut ends one and starts the next at its frames
    starts = [span.start_ns, *(int(run.grid_ns[0]) for run in kept[1:])]
    ends = [*(int(run.grid_ns[-1]) + 1 for run in kept[:-1]), span.end_ns]
    return [Aligned(Span(a, b, span.task), run) for a, b, run in zip(starts, ends, kept, strict=True)]


def _whole_runs(runs: list[Alignment]) -> list[Alignment]:
    """Runs of two frames or more. A shorter one is lost with the ticks around it: before the
    first episode they count as trimmed, after one as part of the cut that ends it."""
    kept: list[Alignment] = []
    trimmed = 0
    for run in runs:
        if len(run.grid_ns) >= 2:
            if not kept:
                run.trimmed_frames += trimmed
            kept.append(run)
            continue
        after = run.cut_after.frames if run.cut_after else 0
        if not kept:
            trimmed += run.trimmed_frames + len(run.grid_ns) + after
        elif (cut := kept[-1].cut_after) is not None:
            stale = tuple(dict.fromkeys([*cut.stale, *(run.cut_after.stale if run.cut_after else ())]))
            kept[-1].cut_after = Cut(cut.at_ns, cut.frames + len(run.grid_ns) + after, stale)
    return kept


def frame_picks(content: BagContent, result: Alignment) -> dict[str, np.ndarray]:
    """The message of each stream for each frame written; without an action topic the action is
    the next state, so the last frame (which has none) is not written."""
    if "action" in content.numeric:
        return dict(result.picks)
    return {name: picks[:-1] for name, picks in result.picks.items()}


def episode_columns(content: BagContent, result: Alignment) -> dict[str, np.ndarray]:
    picks = dict(result.picks)
    columns = {f: content.numeric[f].values[picks[f]] for f in content.numeric}
    if "action" not in columns:
        columns["action"] = columns["observation.state"][1:]
        columns = {k: v[:-1] if k != "action" else v for k, v in columns.items()}
    return columns


def quality_report(bag: Path, span: Span, result: Alignment, fps: int, rule: str) -> dict[str, Any]:
    cut = result.cut_after
    return {
        "bag": str(bag),
        "episodes_from": rule,
        "start_s": span.start_ns / 1e9,
        "end_s": span.end_ns / 1e9,
        "frames": len(result.grid_ns),
        "first_frame_s": result.grid_ns[0] / 1e9,
        "last_frame_s": result.grid_ns[-1] / 1e9,
        "fps": fps,
        "trimmed_frames": result.trimmed_frames,
        "cut_after": None if cut is None else {"at_s": cut.at_ns / 1e9, "frames": cut.frames, "stale": list(cut.stale)},
        "streams": {name: asdict(q) for name, q in result.quality.items()},
    }
