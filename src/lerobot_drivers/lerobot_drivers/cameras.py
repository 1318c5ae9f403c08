"""Camera frame sources and a paced capture loop, without rclpy.

Sources: a V4L2/OpenCV device, a video file (PyAV), a camera of the MuJoCo scene a simulated
bus runs, and a synthetic pattern (used by the
simulation and tests: each frame carries its index in its first row, so a receiver can check
exactly which frame it got). Frames are RGB uint8 (H, W, 3), stamped at capture.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from lerobot_drivers.errors import DriverError

if TYPE_CHECKING:  # imported where used: opening a camera is the only time they are needed
    import av
    import cv2


class CameraError(DriverError):
    """A camera could not be opened or stopped delivering frames."""


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    stamp_ns: int  # wall clock (time.time_ns) when the frame was captured
    index: int


class FrameSource(ABC):
    paces_itself: ClassVar[bool] = False  # devices block until the next frame; others are paced

    def __init__(self, width: int, height: int, fps: float) -> None:
        if width <= 0 or height <= 0 or fps <= 0:
            raise CameraError(f"width, height and fps must be > 0, got {width}x{height} at {fps} fps")
        self.width, self.height, self.fps = width, height, fps

    def open(self) -> None:  # noqa: B027 - sources without a device have nothing to acquire
        """Acquire the device or file."""

    @abstractmethod
    def read(self) -> np.ndarray:
        """The next frame, RGB (height, width, 3) uint8; raises CameraError when none comes."""

    def close(self) -> None:  # noqa: B027 - sources without a device have nothing to release
        """Release the device or file."""


INDEX_BITS = 32
CELL = 2  # pixels per bit in the index row


def encode_index(image: np.ndarray, index: int) -> None:
    """Write `index` as black/white cells into the first rows (survives lossy codecs)."""
    for bit in range(INDEX_BITS):
        value = 255 if index >> bit & 1 else 0
        image[:CELL, bit * CELL : (bit + 1) * CELL] = value


def decode_index(image: np.ndarray) -> int:
    cells = [image[:CELL, bit * CELL : (bit + 1) * CELL].mean() > 127 for bit in range(INDEX_BITS)]
    return sum(1 << bit for bit, on in enumerate(cells) if on)


def synthetic_frame(index: int, width: int, height: int) -> np.ndarray:
    """A deterministic frame: a colour gradient with a square moving across it."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = (x * 255 // max(width - 1, 1)).astype(np.uint8)
    image[..., 1] = (y * 255 // max(height - 1, 1)).astype(np.uint8)
    image[..., 2] = (index * 4) % 256
    side = max(4, min(width, height) // 5)
    left = (index * 3) % max(width - side, 1)
    top = height // 2 - side // 2
    image[top : top + side, left : left + side] = (255, 255, 255)
    if width >= INDEX_BITS * CELL and height >= CELL:
        encode_index(image, index)
    return image


class SyntheticSource(FrameSource):
    def __init__(self, width: int, height: int, fps: float) -> None:
        super().__init__(width, height, fps)
        self._index = 0

    def read(self) -> np.ndarray:
        image = synthetic_frame(self._index, self.width, self.height)
        self._index += 1
        return image


class VideoFileSource(FrameSource):
    """Plays a video file (looping), resized to the configured size."""

    def __init__(self, width: int, height: int, fps: float, path: str | Path, loop: bool = True) -> None:
        super().__init__(width, height, fps)
        self.path = Path(path)
        self.loop = loop
        self._container: av.container.InputContainer | None = None
        self._frames: Iterator[av.VideoFrame] | None = None

    def open(self) -> None:
        import av

        try:
            self._container = av.open(str(self.path))
        except (OSError, av.error.FFmpegError) as exc:
            raise CameraError(f"cannot open video file {self.path}: {exc}") from None
        self._frames = self._container.decode(video=0)

    def read(self) -> np.ndarray:
        assert self._container is not None and self._frames is not None, "open() first"
        try:
            frame = next(self._frames)
        except StopIteration:
            if not self.loop:
                raise CameraError(f"video file {self.path} ended") from None
            self._container.seek(0)
            self._frames = self._container.decode(video=0)
            frame = next(self._frames)
        return frame.to_ndarray(format="rgb24", width=self.width, height=self.height)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


class DeviceSource(FrameSource):
    """A V4L2 device through OpenCV (path like /dev/video0, or an index)."""

    paces_itself = True

    def __init__(self, width: int, height: int, fps: float, device: str | int = 0) -> None:
        super().__init__(width, height, fps)
        self.device = int(device) if str(device).isdigit() else str(device)
        self._capture: cv2.VideoCapture | None = None

    def open(self) -> None:
        import cv2

        capture = cv2.VideoCapture(self.device, cv2.CAP_V4L2)
        if not capture.isOpened():
            raise CameraError(
                f"cannot open camera {self.device!r}: check that it exists (v4l2-ctl --list-devices), "
                "that your user is in the video group, and that no other program uses it"
            )
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        capture.set(cv2.CAP_PROP_FPS, self.fps)
        got = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        if got != (self.width, self.height):
            capture.release()
            raise CameraError(f"camera {self.device!r} gives {got[0]}x{got[1]}, not {self.width}x{self.height}")
        self._capture = capture

    def read(self) -> np.ndarray:
        import cv2

        assert self._capture is not None, "open() first"
        ok, image = self._capture.read()
        if not ok:
            raise CameraError(f"camera {self.device!r} stopped delivering frames")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def scene_camera(width: int, height: int, fps: float, **where: str) -> FrameSource:
    """A camera of the MuJoCo scene a simulated bus runs (imported only for it)."""
    from lerobot_drivers.sim.render import SceneCamera

    return SceneCamera(width, height, fps, **where)


SOURCES: dict[str, Callable[..., FrameSource]] = {
    "synthetic": SyntheticSource,
    "file": VideoFileSource,
    "device": DeviceSource,
    "mujoco": scene_camera,
}


class CaptureLoop:
    """Reads frames at the configured rate and counts the ones it could not take in time."""

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        self.period_ns = round(1e9 / source.fps)
        self.captured = 0
        self.dropped = 0
        self._next_ns: int | None = None  # paced sources: monotonic time of the next slot
        self._last_stamp_ns: int | None = None  # self-paced devices: stamp of the last frame

    def next_frame(self) -> Frame:
        if not self.source.paces_itself:
            now = time.monotonic_ns()
            if self._next_ns is None:
                self._next_ns = now
            elif now > self._next_ns + self.period_ns:  # fell behind: those slots are lost
                missed = (now - self._next_ns) // self.period_ns
                self.dropped += missed
                self._next_ns += missed * self.period_ns
            time.sleep(max(0, self._next_ns - time.monotonic_ns()) / 1e9)
            self._next_ns += self.period_ns
        # A device delivers a frame once it is exposed: stamped on arrival. Other sources take
        # their picture when asked (a scene camera copies the scene, then renders for tens of
        # milliseconds): stamped when asked, so a frame never claims a moment later than it shows.
        stamp = time.time_ns()
        image = self.source.read()
        if self.source.paces_itself:
            stamp = time.time_ns()
            last = self._last_stamp_ns
            if last is not None and stamp - last > 1.5 * self.period_ns:
                self.dropped += round((stamp - last) / self.period_ns) - 1
            self._last_stamp_ns = stamp
        frame = Frame(image, stamp, self.captured)
        self.captured += 1
        return frame
