"""What a conversion keeps of a bag: the small streams whole, and only the stamps of cameras.

Both ways of converting fill it message by message: one read that encodes as it goes
(`streaming`), or a first read before encoding (`read_bag`, for bags the streaming read
cannot take).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from lerobot_drivers.errors import DriverError
from lerobot_recorder.bag import Bag, Message
from lerobot_recorder.errors import MappingError
from lerobot_recorder.extractors import FIXED_NAMES, extractor_for, header_stamp_ns, image_extractor_for
from lerobot_recorder.spec import DatasetSpec


class Column:
    """A numpy array that grows by appending: a long episode's stamps and values cost their bytes,
    not a Python object each (a list of them took ~1 kB a message)."""

    def __init__(self, dtype: type) -> None:
        self.dtype = dtype
        self._data: np.ndarray | None = None
        self.size = 0

    def append(self, value: Any) -> None:
        self._grown(value)[self.size] = value
        self.size += 1

    def _grown(self, like: Any = 0) -> np.ndarray:
        """The storage, with room for one more value shaped as `like`."""
        if self._data is None:
            self._data = np.empty((64, *np.shape(like)), self.dtype)
        elif self.size == len(self._data):
            self._data = np.concatenate([self._data, np.empty_like(self._data)])
        return self._data

    def insert(self, position: int, value: Any) -> None:
        """Rare (an out-of-order stamp): costs a copy of what follows `position`."""
        data = self._grown(value)
        data[position + 1 : self.size + 1] = data[position : self.size].copy()
        data[position] = value
        self.size += 1

    @property
    def array(self) -> np.ndarray:
        """The values so far (a view: appends may reallocate, so do not keep it)."""
        return self._data[: self.size] if self._data is not None else np.empty(0, self.dtype)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: Any) -> Any:
        return self.array[index]


@dataclass
class Series:
    """A numeric stream of one bag: values in message order, with both clocks (header 0: none)."""

    topic: str
    names: list[str]
    header_ns: Column = field(default_factory=lambda: Column(np.int64))
    receive_ns: Column = field(default_factory=lambda: Column(np.int64))
    values: Column = field(default_factory=lambda: Column(np.float64))


@dataclass
class CameraTimes:
    topic: str
    msgtype: str
    header_ns: Column = field(default_factory=lambda: Column(np.int64))  # 0: none
    receive_ns: Column = field(default_factory=lambda: Column(np.int64))
    shape: tuple[int, int, int] | None = None


@dataclass
class BagContent:
    bag: Path
    numeric: dict[str, Series]  # feature -> series
    cameras: dict[str, CameraTimes]  # video key -> camera
    tasks: list[tuple[int, str]] = field(default_factory=list)  # (receive ns, text)
    events: list[tuple[int, int, str]] = field(default_factory=list)  # (stamp ns, event, task)
    cut_ns: int | None = None  # a salvaged recording's last message: an episode open there ends there


def cdr_header_stamp(raw: bytes) -> int | None:
    """The header stamp of a serialized message whose first field is std_msgs/Header."""
    if len(raw) < 12:
        return None
    order = "<" if raw[1] & 1 else ">"
    sec, nanosec = struct.unpack_from(f"{order}iI", raw, 4)
    return sec * 1_000_000_000 + nanosec or None


def cdr_image(raw: bytes) -> SimpleNamespace | None:
    """A serialized sensor_msgs/Image with its pixels a view of `raw` (rosbags' deserializer copies
    them: 0.6 ms for a 640x480 rgb8 frame, the largest cost of raw cameras). None when the bytes do
    not hold the standard layout; the caller then deserializes them in full."""
    order = "<" if len(raw) > 1 and raw[1] & 1 else ">"

    def aligned(position: int) -> int:  # CDR aligns 4-byte fields relative to the end of the 4-byte header
        return 4 + -(-(position - 4) // 4) * 4

    try:
        (frame_id,) = struct.unpack_from(f"{order}I", raw, 12)  # after the header's stamp
        position = aligned(16 + frame_id)
        height, width, length = struct.unpack_from(f"{order}III", raw, position)
        position += 12
        encoding = bytes(raw[position : position + max(length - 1, 0)]).decode("ascii")
        is_bigendian = raw[position + length]
        step, size = struct.unpack_from(f"{order}II", raw, aligned(position + length + 1))
        position = aligned(position + length + 1) + 8
    except (struct.error, IndexError, UnicodeDecodeError):
        return None
    if position + size > len(raw):
        return None
    data = np.frombuffer(raw, np.uint8, count=size, offset=position)
    return SimpleNamespace(
        height=height, width=width, encoding=encoding, is_bigendian=is_bigendian, step=step, data=data
    )


def decode_image(bag: Bag, topic: str, msgtype: str, raw: bytes, log_time_ns: int) -> np.ndarray:
    """One camera message -> RGB, errors naming the bag, topic and time."""
    try:
        message = cdr_image(raw) if msgtype == "sensor_msgs/msg/Image" else None
        return image_extractor_for(msgtype, topic)(message or bag.typestore.deserialize_cdr(raw, msgtype))
    except DriverError as exc:
        raise MappingError(f"bag {bag.name}, camera {topic}, t={log_time_ns / 1e9:.6f} s: {exc}") from None


class ContentCollector:
    """Checks a bag against the profile's mapping, then takes its messages one at a time."""

    def __init__(self, bag: Bag, spec: DatasetSpec, path: Path) -> None:
        self.bag, self.spec = bag, spec
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
        self.counts = bag.message_counts()
        if empty := [t for t in wanted.values() if self.counts.get(t, 0) == 0]:
            raise MappingError(f"bag {bag.name} has no messages on {empty}")
        self.extractors = {feature: extractor_for(topics[t], t) for feature, t in wanted.items()}
        self.names = {feature: _names(spec, feature, topics[t]) for feature, t in wanted.items()}
        self.by_topic: dict[str, list[str]] = {}
        for feature, topic in wanted.items():
            self.by_topic.setdefault(topic, []).append(feature)
        cameras = {key: CameraTimes(topic, topics[topic]) for key, topic in camera_topics.items()}
        self.camera_by_topic = {camera.topic: key for key, camera in cameras.items()}
        for camera in cameras.values():
            image_extractor_for(camera.msgtype, camera.topic)  # refuse non-image topics before reading
        self.content = BagContent(Path(path), {f: Series(t, self.names[f]) for f, t in wanted.items()}, cameras)
        self.content.cut_ns = bag.end_ns if bag.salvaged else None
        self.other_topics = [t for t in (spec.task_topic, spec.events_topic) if t and t in topics]

    @property
    def topics(self) -> list[str]:
        """Every topic the conversion reads."""
        return [*self.by_topic, *self.other_topics, *self.camera_by_topic]

    def add(self, message: Message) -> str | None:
        """Take one raw message; returns the video key when it is a camera's."""
        if (key := self.camera_by_topic.get(message.topic)) is not None:
            camera = self.content.cameras[key]
            if camera.shape is None:
                shape = decode_image(self.bag, camera.topic, camera.msgtype, message.data, message.log_time_ns).shape
                camera.shape = shape
            camera.header_ns.append(cdr_header_stamp(message.data) or 0)
            camera.receive_ns.append(message.log_time_ns)
            return key
        data = self.bag.decode(message.topic, message.msgtype, message.log_time_ns, message.data)
        for feature in self.by_topic.get(message.topic, ()):
            try:
                values = self.extractors[feature](data, self.names[feature])
            except MappingError as exc:
                raise MappingError(
                    f"bag {self.bag.name}, topic {message.topic}, t={message.log_time_ns / 1e9:.6f} s: {exc}"
                ) from None
            series = self.content.numeric[feature]
            series.header_ns.append(header_stamp_ns(data) or 0)
            series.receive_ns.append(message.log_time_ns)
            series.values.append(values)
        if message.topic == self.spec.task_topic:
            self.content.tasks.append((message.log_time_ns, str(data.data)))
        if message.topic == self.spec.events_topic:
            self.content.events.append((header_stamp_ns(data) or message.log_time_ns, int(data.event), str(data.task)))
        return None

    def finish(self) -> BagContent:
        if empty := [c.topic for c in self.content.cameras.values() if not c.receive_ns]:
            raise MappingError(f"bag {self.bag.name}: camera topic(s) {empty} have no messages")
        return self.content


def read_bag(path: Path, spec: DatasetSpec) -> BagContent:
    """The content of a whole bag, in one read (its chunks interleave every topic, so each extra
    pass reads it all again)."""
    with Bag([path]) as bag:
        collector = ContentCollector(bag, spec, path)
        for message in bag.messages(collector.topics, deserialize=False):
            collector.add(message)
        return collector.finish()


def _names(spec: DatasetSpec, feature: str, msgtype: str) -> list[str]:
    extra = next((e for e in spec.extra if e.feature == feature), None)
    if extra is not None and extra.names:
        return list(extra.names)
    return FIXED_NAMES.get(msgtype, list(spec.joint_names))
