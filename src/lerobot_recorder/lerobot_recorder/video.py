"""Encoding one camera's frames into LeRobot's video files, and decoding them back.

A file holds consecutive episodes of one camera at a constant frame rate, pts from 0; an
episode is addressed by [from_timestamp, to_timestamp) in its file.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from lerobot_recorder.errors import DatasetError

CODECS = {
    "libsvtav1": {"g": "2", "crf": "30", "preset": "12"},  # LeRobot's default codec and settings
    "libx264": {"g": "2", "crf": "23", "preset": "veryfast"},
}
PIXEL_FORMAT = "yuv420p"
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
        self._stream = self._container.add_stream(codec, rate=fps, options=codec_options(codec))
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = PIXEL_FORMAT
        self._stream.time_base = Fraction(1, fps)
        self._shape = (height, width, 3)

    def write(self, image: np.ndarray | av.VideoFrame) -> None:
        """An RGB array, or a decoded frame in any pixel format (converted by the encoder)."""
        if frame_shape(image) != self._shape:
            raise DatasetError(f"{self.path}: frame of shape {frame_shape(image)}, the video is {self._shape}")
        frame = av.VideoFrame.from_ndarray(image, format="rgb24") if isinstance(image, np.ndarray) else image
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


def frame_shape(image: np.ndarray | av.VideoFrame) -> tuple[int, ...]:
    return image.shape if isinstance(image, np.ndarray) else (image.height, image.width, 3)


def as_rgb(image: np.ndarray | av.VideoFrame) -> np.ndarray:
    return image if isinstance(image, np.ndarray) else image.to_ndarray(format="rgb24")


class JpegDecoder:
    """JPEG -> the decoded YUV picture (libavcodec's mjpeg), handed to the encoder as it is:
    going through RGB would cost a colour conversion each way (about 1.4 ms a 640x480 frame
    for RGB -> YUV alone), for pixels the encoder wants in YUV anyway."""

    def __init__(self) -> None:
        self._codec = av.CodecContext.create("mjpeg", "r")
        self._codec.thread_count = 1  # the encoders own the cores

    def decode(self, data: bytes) -> av.VideoFrame:
        try:
            frames = self._codec.decode(av.Packet(data))
        except av.error.FFmpegError as exc:
            raise DatasetError(f"a JPEG image ({len(data)} bytes) does not decode: {exc}") from None
        if len(frames) != 1:
            raise DatasetError(f"a JPEG image ({len(data)} bytes) decoded to {len(frames)} pictures")
        # JPEG's YUV is full range; the videos are limited range, as RGB frames become: convert
        # the values, not only the format's name (the range tag alone would be lost in the mp4)
        return frames[0].reformat(format=PIXEL_FORMAT, src_color_range="JPEG", dst_color_range="MPEG")


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
