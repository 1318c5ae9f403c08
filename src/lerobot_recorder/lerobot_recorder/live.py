"""Episode bags for the live recorder, without rclpy: one mcap bag per episode.

A bag is written under `episode_NNNNNN.partial` and renamed to `episode_NNNNNN` only when
the episode is kept, so a folder without the suffix is always a finished, closed bag. An
episode still recording at shutdown is closed and kept as `episode_NNNNNN.interrupted`:
nothing is lost, and nothing unfinished passes for finished.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from rosbags.interfaces import Connection
from rosbags.rosbag2 import StoragePlugin, Writer

from lerobot_recorder.bag import stamped_header, suite_typestore
from lerobot_recorder.errors import RecorderError

EVENT_TYPE = "lerobot_msgs/msg/EpisodeEvent"


@dataclass(frozen=True)
class Stopped:
    index: int
    path: Path | None  # None when discarded
    messages: int


class EpisodeBags:
    """Thread-safe: subscriptions write while services start and stop episodes."""

    def __init__(self, folder: Path, events_topic: str = "/episode_events") -> None:
        self.folder = Path(folder)
        self.events_topic = events_topic  # where the recorder node publishes them too
        self.folder.mkdir(parents=True, exist_ok=True)
        self._typestore = suite_typestore()
        self._lock = threading.Lock()
        self._writer: Writer | None = None
        self._connections: dict[str, Connection] = {}
        self._messages = 0
        self.index = self._next_index()
        self.task = ""

    def _next_index(self) -> int:
        taken = [int(p.name.split("_")[1].split(".")[0]) for p in self.folder.glob("episode_*")]
        return max(taken, default=-1) + 1

    @property
    def recording(self) -> bool:
        return self._writer is not None

    def _partial(self) -> Path:
        return self.folder / f"episode_{self.index:06d}.partial"

    def start(self, task: str, stamp_ns: int) -> int:
        with self._lock:
            if self._writer is not None:
                raise RecorderError(f"episode {self.index} is still recording: stop it first")
            if not task.strip():
                raise RecorderError("task is empty: give the language instruction of the episode")
            writer = Writer(self._partial(), version=9, storage_plugin=StoragePlugin.MCAP)
            writer.open()
            self._writer, self._connections, self._messages, self.task = writer, {}, 0, task
            self._write_event(0, stamp_ns)
            return self.index

    def write(self, topic: str, msgtype: str, raw: bytes, receive_ns: int) -> None:
        with self._lock:
            if self._writer is None:
                return
            connection = self._connections.get(topic)
            if connection is None:
                connection = self._writer.add_connection(topic, msgtype, typestore=self._typestore)
                self._connections[topic] = connection
            self._writer.write(connection, receive_ns, raw)
            self._messages += 1

    def _write_event(self, event: int, stamp_ns: int) -> None:
        assert self._writer is not None  # under the lock, while an episode records
        msg = self._typestore.types[EVENT_TYPE](
            header=stamped_header(self._typestore, stamp_ns),
            event=event,
            episode_index=self.index,
            task=self.task,
        )
        topic = self.events_topic
        if topic not in self._connections:
            self._connections[topic] = self._writer.add_connection(topic, EVENT_TYPE, typestore=self._typestore)
        self._writer.write(self._connections[topic], stamp_ns, self._typestore.serialize_cdr(msg, EVENT_TYPE))

    def stop(self, keep: bool, stamp_ns: int) -> Stopped:
        with self._lock:
            if self._writer is None:
                raise RecorderError("no episode is recording")
            self._write_event(1 if keep else 2, stamp_ns)
            self._writer.close()
            self._writer = None
            index, messages = self.index, self._messages
            final = self.folder / f"episode_{index:06d}"
            if keep:
                self._partial().rename(final)
            else:
                shutil.rmtree(self._partial())
            self.index += 1
            return Stopped(index, final if keep else None, messages)

    def close(self) -> Path | None:
        """At shutdown: close a bag still recording and keep it, marked interrupted."""
        with self._lock:
            if self._writer is None:
                return None
            self._writer.close()
            self._writer = None
            interrupted = self.folder / f"episode_{self.index:06d}.interrupted"
            self._partial().rename(interrupted)
            self.index += 1
            return interrupted
