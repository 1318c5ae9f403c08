"""Reading rosbag2 bags (mcap or sqlite3, split or not, compressed where rosbags supports it).

rosbags does the reading; its errors are converted here into BagError naming the bag. Custom
message types come from the definitions stored in the bag; bags that carry none (older
sqlite3 bags) fall back to the standard types of ROS 2 Kilted, plus the suite's own.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rosbags.interfaces import Connection, MessageDefinitionFormat
from rosbags.rosbag2 import Reader, ReaderError
from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore

from lerobot_recorder.errors import BagError


def suite_msg_dir() -> Path:
    """Where lerobot_msgs' .msg files are installed (venv, colcon install or ROS prefix)."""
    prefixes = [sys.prefix, *filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep))]
    for prefix in prefixes:
        if (candidate := Path(prefix) / "share" / "lerobot_msgs" / "msg").is_dir():
            return candidate
    return Path(__file__).resolve().parents[2] / "lerobot_msgs" / "msg"  # a source checkout


@dataclass(frozen=True)
class Message:
    topic: str
    msgtype: str
    log_time_ns: int  # when the recorder received it
    data: Any  # the deserialized message


def suite_typestore() -> Any:
    """Kilted's standard types plus lerobot_msgs, for bags without type definitions."""
    typestore = get_typestore(Stores.ROS2_KILTED)
    types: dict = {}
    for path in sorted(suite_msg_dir().glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"lerobot_msgs/msg/{path.stem}"))
    typestore.register(types)
    return typestore


def stamped_header(typestore: Any, stamp_ns: int, frame_id: str = "") -> Any:
    """A std_msgs/Header (rosbags message) stamped `stamp_ns`."""
    types = typestore.types
    stamp = types["builtin_interfaces/msg/Time"](sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
    return types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)


def bag_paths(path: Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise BagError(f"bag {path} does not exist")
    if path.is_file() and path.suffix in (".mcap", ".db3") and (path.parent / "metadata.yaml").exists():
        return path.parent  # a file of a bag folder: read the whole (possibly split) bag
    return path


def connection_types(connection: Connection) -> dict:
    """The types defined in one connection's stored definition (msg or idl)."""
    definition = connection.msgdef
    if definition.format == MessageDefinitionFormat.MSG:
        return get_types_from_msg(definition.data, connection.msgtype)
    separator = "=" * 80 + "\n"
    if definition.data.startswith(f"{separator}IDL: "):
        types: dict = {}
        for part in definition.data.split(separator)[1:]:
            types.update(get_types_from_idl(part.split("\n", 1)[1]))
        return types
    return get_types_from_idl(definition.data)


MCAP_MAGIC = b"\x89MCAP0\r\n"  # an mcap file starts and ends with it
SALVAGE_MARKER = "salvaged.json"  # in a salvaged copy of a cut-off bag (lerobot_recorder.salvage)


def truncated_files(bag: Path) -> list[str]:
    """The mcap files of a bag folder (or the file itself) that lack the closing magic."""
    files = [bag] if bag.is_file() else sorted(bag.glob("*.mcap"))
    cut = []
    for file in files:
        with contextlib.suppress(OSError), file.open("rb") as handle:
            handle.seek(max(0, file.stat().st_size - len(MCAP_MAGIC)))
            if file.suffix == ".mcap" and handle.read() != MCAP_MAGIC:
                cut.append(file.name)
    return cut


class Bag:
    """One or more rosbag2 bags read as one receive-time-ordered stream.

    Types are registered connection by connection: a definition that does not parse makes
    only its own topic unreadable (named if a conversion asks for it), not the whole bag.
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = [bag_paths(p) for p in paths]
        self._readers: list[Reader] = []
        self.connections: list[Connection] = []
        self.unreadable: dict[str, str] = {}  # topic -> why its type could not be registered
        self.typestore: Any = None

    def __enter__(self) -> Bag:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def name(self) -> str:
        return ", ".join(str(p) for p in self.paths)

    def open(self) -> None:
        try:
            for path in self.paths:
                reader = Reader(path)
                reader.open()
                self._readers.append(reader)
        except (ReaderError, OSError, KeyError, ValueError) as exc:
            self.close()
            if cut := truncated_files(path):
                raise BagError(
                    f"bag {path} is truncated: {', '.join(cut)} do(es) not end with the mcap footer, so the "
                    "recording was cut off (a killed recorder, a full disk, a pulled drive). Pass --salvage to "
                    "convert what it holds up to the cut (the episode is marked in the report), or --skip-bad to "
                    "convert the other bags"
                ) from None
            raise BagError(f"cannot open bag {path}: {exc}") from None
        self.connections = [c for r in self._readers for c in r.connections]
        defined: dict = {}
        for connection in self.connections:
            if connection.msgdef.format == MessageDefinitionFormat.NONE:
                continue
            try:
                defined.update(connection_types(connection))
            except Exception as exc:  # rosbags' parsers raise assorted errors on odd definitions
                self.unreadable[connection.topic] = f"its {connection.msgtype} definition does not parse ({exc})"
        standard = suite_typestore()
        self.typestore = get_typestore(Stores.EMPTY)
        self.typestore.register({k: v for k, v in standard.fielddefs.items() if k not in defined} | defined)
        for connection in self.connections:
            if connection.msgtype not in self.typestore.fielddefs and connection.topic not in self.unreadable:
                self.unreadable[connection.topic] = f"the bag has no definition of {connection.msgtype}"

    def close(self) -> None:
        for reader in self._readers:
            with contextlib.suppress(Exception):
                reader.close()
        self._readers = []

    def topics(self) -> dict[str, str]:
        """Topic -> message type, over every connection of the bag."""
        return {c.topic: c.msgtype for c in self.connections}

    @property
    def salvaged(self) -> bool:
        """A copy of a cut-off recording: it ends where the recording was cut."""
        return any((path / SALVAGE_MARKER).exists() for path in self.paths if path.is_dir())

    @property
    def end_ns(self) -> int:
        """The receive time of the bag's last message."""
        return max((r.end_time for r in self._readers), default=0)

    def message_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for connection in self.connections:
            counts[connection.topic] = counts.get(connection.topic, 0) + connection.msgcount
        return counts

    def messages(self, topics: Sequence[str], *, deserialize: bool = True) -> Iterator[Message]:
        """Messages of `topics` in receive-time order. An undecodable message stops the read with
        the bag, topic and time named: skipping it silently would lose data."""
        wanted = set(topics)
        for topic in wanted & set(self.unreadable):
            raise BagError(f"bag {self.name}: topic {topic} cannot be read: {self.unreadable[topic]}")
        streams = [self._stream(r, [c for c in r.connections if c.topic in wanted]) for r in self._readers]
        for connection, log_time, raw in heapq.merge(*streams, key=lambda item: item[1]):
            data = self.decode(connection.topic, connection.msgtype, log_time, raw) if deserialize else raw
            yield Message(connection.topic, connection.msgtype, log_time, data)

    def _stream(self, reader: Reader, connections: list[Connection]) -> Iterator[tuple[Connection, int, bytes]]:
        if not connections:
            return
        try:
            yield from reader.messages(connections=connections)
        except (ReaderError, OSError, ValueError, KeyError) as exc:
            raise BagError(f"bag {reader.path} is truncated or corrupt: {exc}") from None

    def decode(self, topic: str, msgtype: str, log_time: int, raw: bytes) -> Any:
        """One serialized message -> its message object; errors name the bag, topic and time."""
        try:
            return self.typestore.deserialize_cdr(raw, msgtype)
        except Exception as exc:  # rosbags raises assorted errors on bad CDR
            raise BagError(
                f"bag {self.name}: a {msgtype} message on {topic} at "
                f"t={log_time / 1e9:.6f} s does not deserialize ({type(exc).__name__}: {exc})"
            ) from None
