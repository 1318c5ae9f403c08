"""Encoding one camera's frames into LeRobot's video files, and decoding them back.

A file holds consecutive episodes of one camera at a constant frame rate, pts from 0; an
episode is addressed by [from_timestamp, to_timestamp) in its file.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np

from lerobot_recorder.errors import DatasetError

CODECS = {
    "libsvtav1": {"g": "2", "crf": "30", "preset": "12"},  # LeRobot's default codec and settings
    "libx264": {"g": "2", "crf": "23", "preset": "veryfast"},
}
logging.getLogger("libav").setLevel(logging.ERROR)
os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints a banner per encoder otherwise


def codec_options(codec: str) -> dict[str, str]:
    if codec not in CODECS:
        raise DatasetError(f"video codec {codec!r} is not supported; use one of {sorted(CODECS)}")
    return dict(CODECS[codec])


class VideoFileWriter:
    """One mp4 being filled, frame by frame."""

    def __init__(self, path: Path, width: int, height: int, fps: int, codec: str = "libsvtav1") -> None:
        self.path = path
        self.fps = fps
        self.frames = 0
        self.encoded_bytes = 0  # the file on disk lags behind: the muxer buffers
        self.encoded_frames = 0  # packets out; the encoder holds the rest for a while
        path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(path), "w")
        self._stream = cast(av.VideoStream, self._container.add_stream(codec, rate=fps, options=codec_options(codec)))
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._stream.time_base = Fraction(1, fps)
        self._shape = (height, width, 3)

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape != self._shape:
            raise DatasetError(f"{self.path}: frame of shape {rgb.shape}, the video is {self._shape}")
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self.frames
        self._mux(self._stream.encode(frame))
        self.frames += 1

    def _mux(self, packets: list) -> None:
        self.encoded_bytes += sum(packet.size for packet in packets)
        self.encoded_frames += len(packets)
        self._container.mux(packets)

    def size_mb(self) -> float:
        """Bytes out of the encoder, plus the frames still inside it at the average so far
        (at least a byte each: a file that was written to is never empty)."""
        pending = self.frames - self.encoded_frames
        average = self.encoded_bytes / self.encoded_frames if self.encoded_frames else 1.0
        return (self.encoded_bytes + pending * max(average, 1.0)) / 1e6

    def close(self) -> None:
        self._mux(self._stream.encode())
        self._container.close()


def decode_frames(path: Path, timestamps: list[float], tolerance_s: float = 1e-4) -> list[np.ndarray]:
    """Frames at `timestamps` (seconds in the file), as LeRobot reads them: fail if a decoded
    frame's time differs from the asked one by more than `tolerance_s`."""
    wanted = sorted(timestamps)
    found: dict[float, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        container.seek(int(wanted[0] / stream.time_base), stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base)
            for target in wanted:
                if target not in found and abs(t - target) <= tolerance_s:
                    found[target] = frame.to_ndarray(format="rgb24")
            if t > wanted[-1] + tolerance_s:
                break
    missing = [t for t in timestamps if t not in found]
    if missing:
        raise DatasetError(f"{path}: no frame within {tolerance_s} s of {missing[:5]}")
    return [found[t] for t in timestamps]
