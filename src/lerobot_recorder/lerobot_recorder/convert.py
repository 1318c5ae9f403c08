"""Bags -> LeRobotDataset v3, streaming: memory does not grow with episode length.

Pass 1 reads the small streams (state, action, extra, task, events) and only the stamps of
camera messages (straight from the CDR header, images untouched). Alignment then decides,
per episode, which message feeds each frame. Pass 2 streams each camera's chosen messages
into its encoder, one thread per camera.
"""

from __future__ import annotations

import json
import queue
import struct
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_drivers.errors import DriverError
from lerobot_recorder import v3_format as fmt
from lerobot_recorder.align import Alignment, StreamTimes, align
from lerobot_recorder.bag import Bag
from lerobot_recorder.episodes import Segmentation, Span, from_events, from_gaps
from lerobot_recorder.errors import BagError, MappingError, RecorderError
from lerobot_recorder.extractors import FIXED_NAMES, extractor_for, header_stamp_ns, image_extractor_for
from lerobot_recorder.spec import DatasetSpec
from lerobot_recorder.video import codec_options
from lerobot_recorder.writer import DatasetWriter, Episode


@dataclass
class Series:
    """A numeric stream of one bag: values in message order, with both clocks."""

    topic: str
    names: list[str]
    header_ns: list[int | None] = field(default_factory=list)
    receive_ns: list[int] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)


@dataclass
class CameraTimes:
    topic: str
    msgtype: str
    header_ns: list[int | None] = field(default_factory=list)
    receive_ns: list[int] = field(default_factory=list)
    shape: tuple[int, int, int] | None = None


@dataclass
class BagContent:
    bag: Path
    numeric: dict[str, Series]  # feature -> series
    cameras: dict[str, CameraTimes]  # video key -> camera
    tasks: list[tuple[int, str]]  # (receive ns, text)
    events: list[tuple[int, int, str]]  # (stamp ns, event, task)


def cdr_header_stamp(raw: bytes) -> int | None:
    """The header stamp of a serialized message whose first field is std_msgs/Header."""
    if len(raw) < 12:
        return None
    order = "<" if raw[1] & 1 else ">"
    sec, nanosec = struct.unpack_from(f"{order}iI", raw, 4)
    return sec * 1_000_000_000 + nanosec or None


def read_bag(path: Path, spec: DatasetSpec) -> BagContent:
    with Bag([path]) as bag:
        topics = bag.topics()
        wanted = {"observation.state": spec.state_topic}
        if spec.action_topic:
            wanted["action"] = spec.action_topic
        wanted.update({extra.feature: extra.topic for extra in spec.extra})
        camera_topics = {f"observation.images.{c.name}": c.topic for c in spec.cameras}
        missing = {t for t in [*wanted.values(), *camera_topics.values()] if t not in topics}
        if missing:
            raise MappingError(
                f"bag {bag.name} lacks topic(s) {sorted(missing)} that the profile maps; it has {sorted(topics)}. "
                "Fix the profile's dataset/cameras topics, or record them"
            )
        counts = bag.message_counts()
        if empty := [t for t in wanted.values() if counts.get(t, 0) == 0]:
            raise MappingError(f"bag {bag.name} has no messages on {empty}")
        extractors = {feature: extractor_for(topics[t], t) for feature, t in wanted.items()}
        names = {feature: _names(spec, feature, topics[t]) for feature, t in wanted.items()}
        by_topic: dict[str, list[str]] = {}
        for feature, topic in wanted.items():
            by_topic.setdefault(topic, []).append(feature)
        numeric = {feature: Series(topic, names[feature]) for feature, topic in wanted.items()}
        extra_topics = [t for t in (spec.task_topic, spec.events_topic) if t and t in topics]
        cameras = {key: CameraTimes(topic, topics[topic]) for key, topic in camera_topics.items()}
        camera_by_topic = {camera.topic: camera for camera in cameras.values()}
        for camera in cameras.values():
            image_extractor_for(camera.msgtype, camera.topic)  # refuse non-image topics before reading
        tasks: list[tuple[int, str]] = []
        events: list[tuple[int, int, str]] = []
        # one read of the bag: its chunks interleave every topic, so each extra pass reads it all again
        for message in bag.messages([*by_topic, *extra_topics, *camera_by_topic], deserialize=False):
            if (camera := camera_by_topic.get(message.topic)) is not None:
                if camera.shape is None:
                    camera.shape = decode_image(
                        bag, camera.topic, camera.msgtype, message.data, message.log_time_ns
                    ).shape
                camera.header_ns.append(cdr_header_stamp(message.data))
                camera.receive_ns.append(message.log_time_ns)
                continue
            data = bag.decode(message.topic, message.msgtype, message.log_time_ns, message.data)
            if message.topic in by_topic:
                header = header_stamp_ns(data)
                for feature in by_topic[message.topic]:
                    try:
                        values = extractors[feature](data, names[feature])
                    except MappingError as exc:
                        raise MappingError(
                            f"bag {bag.name}, topic {message.topic}, t={message.log_time_ns / 1e9:.6f} s: {exc}"
                        ) from None
                    series = numeric[feature]
                    series.header_ns.append(header)
                    series.receive_ns.append(message.log_time_ns)
                    series.values.append(values)
            if message.topic == spec.task_topic:
                tasks.append((message.log_time_ns, str(data.data)))
            if message.topic == spec.events_topic:
                events.append((header_stamp_ns(data) or message.log_time_ns, int(data.event), str(data.task)))
        if empty := [c.topic for c in cameras.values() if not c.receive_ns]:
            raise MappingError(f"bag {bag.name}: camera topic(s) {empty} have no messages")
    return BagContent(Path(path), numeric, cameras, tasks, events)


def _names(spec: DatasetSpec, feature: str, msgtype: str) -> list[str]:
    extra = next((e for e in spec.extra if e.feature == feature), None)
    if extra is not None and extra.names:
        return list(extra.names)
    return FIXED_NAMES.get(msgtype, list(spec.joint_names))


def decode_image(bag: Bag, topic: str, msgtype: str, raw: bytes, log_time_ns: int) -> np.ndarray:
    """One camera message -> RGB, errors naming the bag, topic and time."""
    try:
        return image_extractor_for(msgtype, topic)(bag.typestore.deserialize_cdr(raw, msgtype))
    except DriverError as exc:
        raise MappingError(f"bag {bag.name}, camera {topic}, t={log_time_ns / 1e9:.6f} s: {exc}") from None


def spans_of(content: BagContent, spec: DatasetSpec, segmentation: Segmentation, gap_s: float) -> list[Span]:
    state = content.numeric["observation.state"]
    stamps = np.sort(np.array(state.receive_ns, dtype=np.int64))
    if segmentation == "events":
        if not content.events:
            raise MappingError(
                f"bag {content.bag} has no episode events on {spec.events_topic}: use --segment bag or gap"
            )
        return from_events(content.events, str(content.bag))
    if segmentation == "gap":
        return from_gaps(stamps, gap_s)
    return [Span(int(stamps[0]), int(stamps[-1]) + 1)]


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


def stream_times(content: BagContent, spec: DatasetSpec, name: str) -> StreamTimes:
    source = content.numeric.get(name) or content.cameras[name]
    header = source.header_ns if spec.stamps == "header" else [None] * len(source.receive_ns)
    offset = 0
    if name in content.cameras:
        camera = next(c for c in spec.cameras if f"observation.images.{c.name}" == name)
        offset = round(camera.latency_s * 1e9)
    times = StreamTimes.build(name, header, source.receive_ns, offset)
    if spec.stamps == "receive":
        times.zero_stamps = 0
    return times


def align_span(content: BagContent, spec: DatasetSpec, span: Span) -> Alignment:
    streams = {name: stream_times(content, spec, name) for name in [*content.numeric, *content.cameras]}
    policies = {
        name: spec.align["images"]
        if name in content.cameras
        else spec.align.get(name.split(".")[0], spec.align["state"])
        for name in streams
    }
    policies["observation.state"] = spec.align["state"]
    if "action" in streams:
        policies["action"] = spec.align["action"]
    inside = [t.stamps[(t.stamps >= span.start_ns) & (t.stamps < span.end_ns)] for t in streams.values()]
    if any(len(s) == 0 for s in inside):
        empty = [n for n, s in zip(streams, inside, strict=True) if len(s) == 0]
        raise MappingError(
            f"bag {content.bag}: no {empty} data between {span.start_ns / 1e9:.3f} and {span.end_ns / 1e9:.3f} s"
        )
    start = max(int(s[0]) for s in inside)
    end = min(int(s[-1]) for s in inside) + 1
    return align(streams, policies, start, end, spec.fps)


def frames_of(bag_path: Path, camera: CameraTimes, picks: np.ndarray) -> Iterator[np.ndarray]:
    """Decoded frames for `picks` (message indices, one per frame), read in one pass."""
    with Bag([bag_path]) as bag:
        messages = enumerate(bag.messages([camera.topic], deserialize=False))
        position, current, frame = -1, None, None
        for pick in picks:
            if pick < position:  # stamps out of message order: start over for this one
                messages = enumerate(bag.messages([camera.topic], deserialize=False))
                position = -1
            while position < pick:
                position, current = next(messages)
                frame = None
            if frame is None:
                frame = decode_image(bag, camera.topic, camera.msgtype, current.data, current.log_time_ns)
                _check_shape(frame, camera, bag.name, current.log_time_ns)
            yield frame


class SharedCameraRead:
    """Every camera's frames from ONE read of the bag (a bag's chunks interleave all topics,
    so a read per camera would read everything once per camera). A reader thread hands raw
    messages to each camera through a small bounded queue; decoding happens in the encoder
    threads, in parallel."""

    DONE = object()

    def __init__(self, bag_path: Path, cameras: dict[str, CameraTimes], picks: dict[str, np.ndarray]) -> None:
        self.bag_path, self.cameras, self.picks = bag_path, cameras, picks
        self.queues = {key: queue.Queue(maxsize=16) for key in cameras}
        self.stop = threading.Event()
        self.failure: BaseException | None = None  # the first error of any camera: the one to report
        self.reader = threading.Thread(target=self._read, name="camera-reader", daemon=True)

    def streams(self) -> dict[str, Iterator[np.ndarray]]:
        self.reader.start()
        return {key: self._frames(key) for key in self.cameras}

    def _put(self, key: str, item: object) -> bool:
        while not self.stop.is_set():
            try:
                self.queues[key].put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        by_topic = {camera.topic: key for key, camera in self.cameras.items()}
        position = dict.fromkeys(self.cameras, -1)
        cursor = dict.fromkeys(self.cameras, 0)
        try:
            with Bag([self.bag_path]) as bag:
                for message in bag.messages(list(by_topic), deserialize=False):
                    key = by_topic[message.topic]
                    position[key] += 1
                    wanted = self.picks[key]
                    while cursor[key] < len(wanted) and wanted[cursor[key]] == position[key]:
                        if not self._put(key, (message, bag)):
                            return
                        cursor[key] += 1
                    if all(cursor[k] == len(self.picks[k]) for k in self.cameras):
                        break
                for key in self.cameras:
                    self._put(key, self.DONE)
        except BaseException as exc:  # handed to every encoder
            for key in self.cameras:
                self._put(key, exc)

    def _next(self, key: str) -> object:
        while True:
            try:
                return self.queues[key].get(timeout=0.1)
            except queue.Empty:
                if not self.reader.is_alive() and self.queues[key].empty():
                    if self.failure is not None:
                        raise self.failure from None
                    raise RecorderError(f"the camera reader stopped before {key} had all its frames") from None

    def _frames(self, key: str) -> Iterator[np.ndarray]:
        camera, last, frame = self.cameras[key], None, None
        try:
            while (item := self._next(key)) is not self.DONE:
                if isinstance(item, BaseException):
                    raise item
                message, bag = item
                if message is not last:  # the same message for consecutive frames: decode once
                    frame = decode_image(bag, camera.topic, camera.msgtype, message.data, message.log_time_ns)
                    _check_shape(frame, camera, bag.name, message.log_time_ns)
                    last = message
                yield frame
        except Exception as exc:
            self.failure = self.failure or exc
            raise
        finally:
            self.stop.set()


def camera_streams(
    bag_path: Path, cameras: dict[str, CameraTimes], picks: dict[str, np.ndarray]
) -> dict[str, Iterator[np.ndarray]]:
    """The frames of each camera for `picks`: one shared read of the bag, or, for bags whose
    camera stamps run against message order, one read per camera."""
    if any(np.any(np.diff(p) < 0) for p in picks.values()):
        return {key: frames_of(bag_path, camera, picks[key]) for key, camera in cameras.items()}
    return SharedCameraRead(bag_path, cameras, picks).streams()


def _check_shape(frame: np.ndarray, camera: CameraTimes, bag: str, log_time_ns: int) -> None:
    if frame.shape != camera.shape:
        raise MappingError(
            f"bag {bag}, camera {camera.topic}: a {frame.shape[1]}x{frame.shape[0]} image at "
            f"t={log_time_ns / 1e9:.6f} s in a {camera.shape[1]}x{camera.shape[0]} stream"
        )


def quality_report(bag: Path, span: Span, result: Alignment, fps: int) -> dict[str, Any]:
    return {
        "bag": str(bag),
        "start_s": span.start_ns / 1e9,
        "end_s": span.end_ns / 1e9,
        "frames": len(result.grid_ns),
        "dropped_frames": result.dropped_frames,
        "fps": fps,
        "streams": {name: asdict(q) for name, q in result.quality.items()},
    }


def features_for(spec: DatasetSpec, content: BagContent, codec: str) -> dict[str, dict[str, Any]]:
    features = {feature: fmt.vector_feature(series.names) for feature, series in content.numeric.items()}
    if "action" not in features:
        features["action"] = fmt.vector_feature(list(spec.joint_names))
    for key, camera in content.cameras.items():
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


def convert(
    bags: list[Path],
    spec: DatasetSpec,
    out: Path,
    *,
    task: str | None = None,
    segmentation: Segmentation | None = None,
    gap_s: float = 1.0,
    codec: str = "libsvtav1",
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Convert `bags` into the dataset at `out` (created, or appended to). Returns the quality
    reports; they are also saved in the dataset as meta/quality/<first episode>.json."""
    if not bags:
        raise RecorderError("no bag to convert")
    reports: list[dict[str, Any]] = []
    writer: DatasetWriter | None = None
    try:
        for bag_path in bags:
            content = read_bag(bag_path, spec)
            mode = segmentation or ("events" if content.events else "bag")
            spans = spans_of(content, spec, mode, gap_s)
            if writer is None:
                writer = DatasetWriter(
                    out,
                    fps=spec.fps,
                    robot_type=spec.robot_type,
                    features=features_for(spec, content, codec),
                    codec=codec,
                )
                writer.open()
            for span in spans:
                report = _convert_span(writer, content, spec, span, task=task, progress=progress or Progress())
                reports.append(report)
        if writer is None or not reports:
            raise MappingError(f"bags {[str(b) for b in bags]} hold no episode to convert")
        first = writer.episodes[-len(reports)]["episode_index"]
        report_path = writer.stage / "meta" / "quality" / f"episodes_{first:06d}.json"
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(reports, indent=2))
        writer.commit()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return reports


def _convert_span(
    writer: DatasetWriter, content: BagContent, spec: DatasetSpec, span: Span, *, task: str | None, progress: Progress
) -> dict[str, Any]:
    result = align_span(content, spec, span)
    if len(result.grid_ns) < 2:
        raise MappingError(
            f"bag {content.bag}: the episode at {span.start_ns / 1e9:.3f} s aligns to {len(result.grid_ns)} frame(s)"
        )
    picks = dict(result.picks)
    columns = {f: np.stack([content.numeric[f].values[i] for i in picks[f]]) for f in content.numeric}
    if "action" not in columns:  # the next state is the action: the last frame has none
        columns["action"] = columns["observation.state"][1:]
        columns = {k: v[:-1] if k != "action" else v for k, v in columns.items()}
        picks = {k: v[:-1] for k, v in picks.items()}
    videos = camera_streams(content.bag, content.cameras, {key: picks[key] for key in content.cameras})
    if videos:  # progress follows the first camera's encoder
        first = next(iter(videos))
        videos[first] = _counted(videos[first], progress)
    progress.episode_started(content.bag, len(columns["action"]))
    row = writer.add_episode(Episode(task_for(span, content, task), columns, videos))
    report = quality_report(content.bag, span, result, spec.fps)
    report["episode_index"] = row["episode_index"]
    report["frames"] = row["length"]
    report["task"] = row["tasks"][0]
    progress.episode_done(report)
    return report


def _counted(frames: Iterator[np.ndarray], progress: Progress, every: int = 10) -> Iterator[np.ndarray]:
    count = 0
    for frame in frames:
        yield frame
        count += 1
        if count % every == 0:
            progress.frames_done(every)
    progress.frames_done(count % every)


__all__ = ["BagError", "convert", "read_bag"]
