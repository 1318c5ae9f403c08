"""Bags -> LeRobotDataset v3, streaming: memory does not grow with episode length.

A bag is read once: frames are encoded while it is read (`streaming`). A bag whose stamps run
too far out of order for that is converted in two passes instead: the small streams and the
camera stamps first (`read_bag`), then each camera's chosen messages into its encoder. Both
align the same way (`planning`) and write through the same writer; one thread per camera.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_recorder import v3_format as fmt
from lerobot_recorder.align import Alignment
from lerobot_recorder.bag import bag_paths, truncated_files
from lerobot_recorder.camera_feed import camera_streams
from lerobot_recorder.content import BagContent, read_bag
from lerobot_recorder.episodes import Segmentation, Span, default_segmentation, describe
from lerobot_recorder.errors import BagError, MappingError, RecorderError
from lerobot_recorder.planning import (
    align_span,
    episode_columns,
    frame_picks,
    quality_report,
    spans_of,
    task_for,
)
from lerobot_recorder.reader import DatasetReader
from lerobot_recorder.salvage import salvage as salvage_bag
from lerobot_recorder.spec import DatasetSpec
from lerobot_recorder.streaming import LiveEpisode, StreamingNotPossible, StreamingRead
from lerobot_recorder.video import codec_options
from lerobot_recorder.writer import DatasetWriter, Episode

log = logging.getLogger(__name__)


@dataclass
class EpisodeJob:
    """An episode ready to be written: its frames as they come, and how to finish it."""

    content: BagContent
    episode: Episode
    frames_hint: int  # for progress: about the episode's length
    report: Callable[[], dict[str, Any]]  # the quality report, once the episode is written


def features_for(spec: DatasetSpec, content: BagContent, codec: str) -> dict[str, dict[str, Any]]:
    features = {feature: fmt.vector_feature(series.names) for feature, series in content.numeric.items()}
    if "action" not in features:
        features["action"] = fmt.vector_feature(list(spec.joint_names))
    for key, camera in content.cameras.items():
        if camera.shape is None:
            raise MappingError(
                f"camera topic {camera.topic} has no image in the bag: record it, or leave it out of the profile"
            )
        height, width, _ = camera.shape
        features[key] = fmt.video_feature(height, width, spec.fps, codec, codec_options(codec))
    return features


class Progress:
    """What a conversion reports as it goes; the command line shows it as progress bars."""

    def episode_started(self, bag: Path, frames: int) -> None:
        """An episode of `frames` frames from `bag` is being written."""

    def frames_done(self, count: int) -> None:
        """`count` more frames of the current episode are encoded."""

    def episode_done(self, report: dict[str, Any]) -> None:
        """The episode is written; `report` is its quality report."""


def streamed_jobs(bag: Path, *, spec: DatasetSpec, **options: Any) -> Iterator[EpisodeJob]:
    read = StreamingRead(bag, spec, **options)
    for live in read.episodes():
        assert read.content is not None and live.feeds is not None

        def report(live: LiveEpisode = live) -> dict[str, Any]:
            assert live.result is not None  # the episode is written: its alignment is known
            return quality_report(bag, live.span, live.result, spec.fps, describe(read.mode, read.gap_s))

        episode = Episode(live.feeds.streams(), live.finish, live.feeds.cancel)
        yield EpisodeJob(read.content, episode, live.frames_hint, report)


def two_pass_jobs(
    bag: Path,
    *,
    spec: DatasetSpec,
    segmentation: Segmentation | None,
    gap_s: float,
    task: str | None,
    on_stale: str,
) -> Iterator[EpisodeJob]:
    content = read_bag(bag, spec)
    segmentation = segmentation or default_segmentation(bool(content.events))
    for whole in spans_of(content, spec, segmentation, gap_s):
        for aligned in align_span(content, spec, whole, on_stale):
            span, result = aligned.span, aligned.result
            picks = frame_picks(content, result)
            known = (task_for(span, content, task), episode_columns(content, result))
            videos, cancel = camera_streams(content.bag, content.cameras, {key: picks[key] for key in content.cameras})

            def report(span: Span = span, result: Alignment = result) -> dict[str, Any]:
                return quality_report(bag, span, result, spec.fps, describe(segmentation, gap_s))

            def finish(known: tuple[str, dict[str, np.ndarray]] = known) -> tuple[str, dict[str, np.ndarray]]:
                return known  # the two-pass read knows the task and columns before encoding

            episode = Episode(videos, finish, cancel)
            yield EpisodeJob(content, episode, len(picks["observation.state"]), report)


def convert(
    bags: list[Path],
    spec: DatasetSpec,
    out: Path,
    *,
    task: str | None = None,
    segmentation: Segmentation | None = None,
    gap_s: float = 1.0,
    on_stale: str = "cut",
    codec: str = "libsvtav1",
    progress: Progress | None = None,
    skipped: list[tuple[Path, str]] | None = None,
    salvage: bool = False,
    workers: int = 1,
) -> list[dict[str, Any]]:
    """Convert `bags` into the dataset at `out` (created, or appended to). Returns the quality
    reports; they are also saved in the dataset as meta/quality/<first episode>.json. A stream
    stale beyond its alignment bound cuts the episode there (`on_stale="fail"`: an error). With
    a `skipped` list, a bag that cannot be read is left out and named there instead of failing
    the conversion (only before any of its frames were written: never half a bag). With
    `salvage`, a cut-off mcap bag is converted up to the cut, from a repaired copy, and its
    episodes' reports say so. With `workers` > 1, bags are converted that many at a time in
    separate processes, each into a shard, and the shards merged in order."""
    if not bags:
        raise RecorderError("no bag to convert")
    if on_stale not in ("cut", "fail"):
        raise RecorderError(f"on_stale must be 'cut' or 'fail', got {on_stale!r}")
    options: dict[str, Any] = {"segmentation": segmentation, "gap_s": gap_s, "task": task, "on_stale": on_stale}
    progress = progress or Progress()
    if workers > 1 and len(bags) > 1:
        return _convert_in_workers(bags, spec, out, workers=workers, codec=codec, progress=progress,
                                   options=options, skipped=skipped, salvage=salvage)  # fmt: skip
    try:
        jobs = partial(streamed_jobs, spec=spec, **options)
        return _convert(bags, spec, out, codec=codec, progress=progress, jobs=jobs, skipped=skipped, salvage=salvage)
    except StreamingNotPossible as exc:
        log.warning("converting in two passes: %s", exc)
        if skipped is not None:
            skipped.clear()
        jobs = partial(two_pass_jobs, spec=spec, **options)
        return _convert(bags, spec, out, codec=codec, progress=progress, jobs=jobs, skipped=skipped, salvage=salvage)


def _convert(
    bags: list[Path],
    spec: DatasetSpec,
    out: Path,
    *,
    codec: str,
    progress: Progress,
    jobs: Callable[[Path], Iterator[EpisodeJob]],
    skipped: list[tuple[Path, str]] | None,
    salvage: bool,
) -> list[dict[str, Any]]:
    reports: list[dict[str, Any]] = []
    writer: DatasetWriter | None = None
    scratch = tempfile.TemporaryDirectory(prefix="lerobot_salvage_") if salvage else None
    try:
        for number, source in enumerate(bags):
            started = False
            try:
                bag_path, salvaged = source, None
                if scratch is not None and truncated_files(bag_paths(source)):
                    bag_path, salvaged = salvage_bag(bag_paths(source), Path(scratch.name) / str(number))
                for job in jobs(bag_path):
                    started = True
                    if writer is None:
                        features = features_for(spec, job.content, codec)
                        writer = DatasetWriter(
                            out, fps=spec.fps, robot_type=spec.robot_type, features=features, codec=codec
                        )
                        writer.open()
                    report = _write(writer, job, progress)
                    if salvaged is not None:
                        report.update(bag=str(source), salvaged=salvaged)
                    reports.append(report)
            except BagError as exc:
                if skipped is None or started:
                    raise
                skipped.append((source, str(exc)))
        if writer is None or not reports:
            raise MappingError(f"bags {[str(b) for b in bags]} hold no episode to convert")
        _save_reports(writer, reports)
        writer.commit()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        if scratch is not None:
            scratch.cleanup()
    return reports


def _save_reports(writer: DatasetWriter, reports: list[dict[str, Any]]) -> None:
    """The conversion's quality reports, in the dataset as meta/quality/<first episode>.json."""
    assert writer.stage is not None
    first = writer.episodes[-len(reports)]["episode_index"]
    report_path = writer.stage / "meta" / "quality" / f"episodes_{first:06d}.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(reports, indent=2))


def _convert_in_workers(
    bags: list[Path],
    spec: DatasetSpec,
    out: Path,
    *,
    workers: int,
    codec: str,
    progress: Progress,
    options: dict[str, Any],
    skipped: list[tuple[Path, str]] | None,
    salvage: bool,
) -> list[dict[str, Any]]:
    """Each bag into a shard dataset of its own, `workers` at a time in separate processes,
    then the shards merged in bag order into `out`: no frame is encoded twice, and the dataset
    is the one a single process writes (but for how episodes share video files)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.shards-", dir=out.parent) as scratch:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [
                pool.submit(
                    convert_shard, bag, spec, Path(scratch) / f"{number:06d}", codec=codec, options=options,
                    skip_bad=skipped is not None, salvage=salvage,
                )
                for number, bag in enumerate(bags)
            ]  # fmt: skip
            results = [future.result() for future in futures]
        shards = [(Path(scratch) / f"{number:06d}", reports) for number, (reports, _) in enumerate(results) if reports]
        if skipped is not None:
            skipped += [entry for _, bad in results for entry in bad]
        if not shards:
            raise MappingError(f"bags {[str(b) for b in bags]} hold no episode to convert")
        features = DatasetReader(shards[0][0]).features
        writer = DatasetWriter(out, fps=spec.fps, robot_type=spec.robot_type, features=features, codec=codec)
        writer.open()
        merged: list[dict[str, Any]] = []
        try:
            for shard, reports in shards:
                for row, report in zip(writer.add_shard(shard), reports, strict=True):
                    report["episode_index"] = row["episode_index"]
                    progress.episode_done(report)
                    merged.append(report)
            _save_reports(writer, merged)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    return merged


def convert_shard(
    bag: Path, spec: DatasetSpec, folder: Path, *, codec: str, options: dict[str, Any], skip_bad: bool, salvage: bool
) -> tuple[list[dict[str, Any]], list[tuple[Path, str]]]:
    """One worker's part: one bag into its own dataset (nothing, if it is skipped)."""
    skipped: list[tuple[Path, str]] | None = [] if skip_bad else None
    try:
        reports = convert([bag], spec, folder, codec=codec, skipped=skipped, salvage=salvage, **options)
    except MappingError:
        if skipped:  # the bag could not be read: nothing to merge, and it is named
            return [], skipped
        raise
    return reports, skipped or []


def _write(writer: DatasetWriter, job: EpisodeJob, progress: Progress) -> dict[str, Any]:
    videos = dict(job.episode.videos)
    if videos:  # progress follows the first camera's encoder
        first = next(iter(videos))
        videos[first] = _counted(videos[first], progress)
    progress.episode_started(job.content.bag, job.frames_hint)
    row = writer.add_episode(Episode(videos, job.episode.finish, job.episode.cancel))
    report = job.report()
    report["episode_index"] = row["episode_index"]
    report["frames"] = row["length"]
    report["task"] = row["tasks"][0]
    progress.episode_done(report)
    return report


def _counted(frames: Iterable[np.ndarray], progress: Progress) -> Iterator[np.ndarray]:
    for frame in frames:
        yield frame
        progress.frames_done(1)


__all__ = ["BagError", "MappingError", "convert", "read_bag"]
