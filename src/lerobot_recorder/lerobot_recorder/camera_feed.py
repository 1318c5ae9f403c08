"""Camera frames for the encoders: raw messages handed over by the thread reading the bag.

A reading thread puts each camera's chosen messages into a small bounded queue (so reading
never runs far ahead of encoding); the encoder threads decode them, in parallel. An error on
either side ends both: the reader stops when an encoder fails, and an encoder raises the
reader's error.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import numpy as np

from lerobot_recorder.bag import Bag, Message
from lerobot_recorder.content import CameraTimes, decode_image
from lerobot_recorder.errors import CancelledConversionError, MappingError, RecorderError

DONE = object()


class CameraFeeds:
    def __init__(self, cameras: dict[str, CameraTimes], producer: threading.Thread, depth: int = 16) -> None:
        self.cameras, self.producer = cameras, producer
        self.queues: dict[str, queue.Queue[object]] = {key: queue.Queue(maxsize=depth) for key in cameras}
        self.stop = threading.Event()  # no more frames wanted: an encoder ended or failed
        self.cancelled = threading.Event()
        self.failure: BaseException | None = None  # the first error of any camera: the one to report

    # --- the reading side ----------------------------------------------------------------------
    def put(self, key: str, message: Message, bag: Bag) -> bool:
        """Hand one message to camera `key`; False once the encoders have stopped."""
        return self._put(key, (message, bag))

    def close(self) -> None:
        for key in self.cameras:
            self._put(key, DONE)

    def fail(self, exc: BaseException) -> None:
        for key in self.cameras:
            self._put(key, exc)

    def cancel(self) -> None:
        """The conversion is abandoned (an error elsewhere, Ctrl-C): reader and encoders stop now."""
        self.cancelled.set()
        self.stop.set()

    def _put(self, key: str, item: object) -> bool:
        while not self.stop.is_set():
            try:
                self.queues[key].put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    # --- the encoding side ---------------------------------------------------------------------
    def streams(self) -> dict[str, Iterator[np.ndarray]]:
        return {key: self.frames(key) for key in self.cameras}

    def frames(self, key: str) -> Iterator[np.ndarray]:
        camera, last, frame = self.cameras[key], None, np.empty(0)
        try:
            while (item := self._next(key)) is not DONE:
                if isinstance(item, BaseException):
                    raise item
                message, bag = cast("tuple[Message, Bag]", item)
                if message is not last:  # the same message for consecutive frames: decode once
                    frame = decode_image(bag, camera.topic, camera.msgtype, message.data, message.log_time_ns)
                    check_shape(frame, camera, bag.name, message.log_time_ns)
                    last = message
                yield frame
        except Exception as exc:
            self.failure = self.failure or exc
            raise
        finally:
            self.stop.set()

    def _next(self, key: str) -> object:
        while True:
            if self.cancelled.is_set():
                raise CancelledConversionError("the conversion was cancelled")
            try:
                return self.queues[key].get(timeout=0.1)
            except queue.Empty:
                if not self.producer.is_alive() and self.queues[key].empty():
                    if self.failure is not None:
                        raise self.failure from None
                    raise RecorderError(f"the bag reader stopped before {key} had all its frames") from None


def shared_read(bag_path: Path, cameras: dict[str, CameraTimes], picks: dict[str, np.ndarray]) -> CameraFeeds:
    """Every camera's frames for `picks` (message indices in order) from ONE read of the bag:
    a bag's chunks interleave all topics, so a read per camera would read everything again."""

    def read() -> None:
        by_topic = {camera.topic: key for key, camera in cameras.items()}
        position = dict.fromkeys(cameras, -1)
        cursor = dict.fromkeys(cameras, 0)
        try:
            with Bag([bag_path]) as bag:
                for message in bag.messages(list(by_topic), deserialize=False):
                    key = by_topic[message.topic]
                    position[key] += 1
                    wanted = picks[key]
                    while cursor[key] < len(wanted) and wanted[cursor[key]] == position[key]:
                        if not feeds.put(key, message, bag):
                            return
                        cursor[key] += 1
                    if all(cursor[k] == len(picks[k]) for k in cameras):
                        break
            feeds.close()
        except BaseException as exc:  # handed to every encoder
            feeds.fail(exc)

    feeds = CameraFeeds(cameras, threading.Thread(target=read, name="camera-reader", daemon=True))
    feeds.producer.start()
    return feeds


def frames_of(bag_path: Path, camera: CameraTimes, picks: np.ndarray) -> Iterator[np.ndarray]:
    """Decoded frames for `picks` in any order (stamps against message order): a read per camera,
    started over whenever a pick goes back."""
    with Bag([bag_path]) as bag:
        messages = enumerate(bag.messages([camera.topic], deserialize=False))
        position, current, frame = -1, cast("Message | None", None), None
        for pick in picks:
            if pick < position:
                messages = enumerate(bag.messages([camera.topic], deserialize=False))
                position = -1
            while position < pick:
                position, current = next(messages)
                frame = None
            if frame is None:
                assert current is not None  # picks count from 0: the first one read a message
                frame = decode_image(bag, camera.topic, camera.msgtype, current.data, current.log_time_ns)
                check_shape(frame, camera, bag.name, current.log_time_ns)
            yield frame


def camera_streams(
    bag_path: Path, cameras: dict[str, CameraTimes], picks: dict[str, np.ndarray]
) -> tuple[dict[str, Iterator[np.ndarray]], Callable[[], None]]:
    """The frames of each camera for `picks`, and how to stop them early: one shared read of the
    bag, or, for bags whose camera stamps run against message order, one read per camera (each
    in its encoder's thread, so they stop with it)."""
    if any(np.any(np.diff(p) < 0) for p in picks.values()):
        return {key: frames_of(bag_path, camera, picks[key]) for key, camera in cameras.items()}, lambda: None
    feeds = shared_read(bag_path, cameras, picks)
    return feeds.streams(), feeds.cancel


def check_shape(frame: np.ndarray, camera: CameraTimes, bag: str, log_time_ns: int) -> None:
    assert camera.shape is not None  # set by the stream's first image, before any is decoded
    if frame.shape != camera.shape:
        raise MappingError(
            f"bag {bag}, camera {camera.topic}: a {frame.shape[1]}x{frame.shape[0]} image at "
            f"t={log_time_ns / 1e9:.6f} s in a {camera.shape[1]}x{camera.shape[0]} stream"
        )
