"""numpy <-> sensor_msgs/Image and CompressedImage, without cv_bridge.

Duck-typed on the message fields, so the same code reads rclpy messages and the ones that
rosbags deserializes from a bag.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lerobot_drivers.errors import DriverError


class ImageEncodingError(DriverError):
    """An image message has an encoding or format the suite cannot read."""


# encoding -> (channels, dtype)
ENCODINGS: dict[str, tuple[int, np.dtype]] = {
    "rgb8": (3, np.dtype(np.uint8)),
    "bgr8": (3, np.dtype(np.uint8)),
    "rgba8": (4, np.dtype(np.uint8)),
    "bgra8": (4, np.dtype(np.uint8)),
    "mono8": (1, np.dtype(np.uint8)),
    "8UC1": (1, np.dtype(np.uint8)),
    "8UC3": (3, np.dtype(np.uint8)),
    "mono16": (1, np.dtype(np.uint16)),
    "16UC1": (1, np.dtype(np.uint16)),
}


def image_to_array(msg: Any, *, copy: bool = True) -> np.ndarray:
    """Image -> (H, W, C) array in the message's own channel order and dtype. `copy=False`
    gives a read-only view of the message's pixels where their layout allows it (a reader that
    only looks at them saves a copy of every frame)."""
    if msg.encoding not in ENCODINGS:
        raise ImageEncodingError(f"image encoding {msg.encoding!r} is not supported; supported: {sorted(ENCODINGS)}")
    channels, dtype = ENCODINGS[msg.encoding]
    dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    row_bytes = msg.width * channels * dtype.itemsize
    data = np.frombuffer(bytes(msg.data) if not isinstance(msg.data, np.ndarray) else msg.data, np.uint8)
    if msg.step < row_bytes or data.size < msg.step * msg.height:
        raise ImageEncodingError(
            f"{msg.encoding} image {msg.width}x{msg.height} has step {msg.step} and {data.size} bytes; "
            f"needs step >= {row_bytes} and {msg.step * msg.height} bytes"
        )
    rows = data[: msg.step * msg.height].reshape(msg.height, msg.step)[:, :row_bytes]
    rows = rows.copy() if copy else np.ascontiguousarray(rows)
    return rows.view(dtype).reshape(msg.height, msg.width, channels).astype(dtype.newbyteorder("="), copy=False)


def image_to_rgb(msg: Any, *, copy: bool = True) -> np.ndarray:
    """Image -> (H, W, 3) uint8 RGB, for video features (`copy` as for image_to_array)."""
    array = image_to_array(msg, copy=copy)
    if msg.encoding in ("bgr8", "bgra8"):
        array = array[..., 2::-1]
    elif array.shape[2] == 4:
        array = array[..., :3]
    elif array.shape[2] == 1:
        if array.dtype == np.uint16:
            array = (array >> 8).astype(np.uint8)
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array)


def fill_image(msg: Any, array: np.ndarray, encoding: str = "rgb8") -> Any:
    """Fill an Image message from an (H, W, C) array."""
    channels, dtype = ENCODINGS[encoding]
    if array.ndim == 2:
        array = array[..., None]
    if array.shape[2] != channels or array.dtype != dtype:
        raise ImageEncodingError(f"{encoding} needs {channels} channel(s) of {dtype}, got {array.shape} {array.dtype}")
    msg.height, msg.width = array.shape[:2]
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * channels * dtype.itemsize
    msg.data = np.ascontiguousarray(array).tobytes()
    return msg


def compressed_to_rgb(msg: Any) -> np.ndarray:
    """CompressedImage (jpeg or png, as image_transport writes them) -> RGB uint8."""
    import cv2

    kind = msg.format.lower()
    if "jpeg" not in kind and "jpg" not in kind and "png" not in kind:
        raise ImageEncodingError(f"compressed image format {msg.format!r} is not supported; use jpeg or png")
    buffer = np.frombuffer(bytes(msg.data), np.uint8)
    if "jpeg" in kind or "jpg" in kind:  # 8-bit colour: decode straight to RGB, no second pass
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR_RGB)
        if image is None:
            raise ImageEncodingError(f"compressed image ({msg.format}, {buffer.size} bytes) does not decode")
        return image
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageEncodingError(f"compressed image ({msg.format}, {buffer.size} bytes) does not decode")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.dtype == np.uint16:
        image = (image.astype(np.uint16) >> 8).astype(np.uint8)
    return cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2RGB)


def fill_compressed(msg: Any, rgb: np.ndarray, image_format: str = "jpeg", quality: int = 90) -> Any:
    """Fill a CompressedImage the way compressed_image_transport does ("rgb8; jpeg compressed bgr8")."""
    import cv2

    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if image_format == "jpeg":
        ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    elif image_format == "png":
        ok, buffer = cv2.imencode(".png", bgr)
    else:
        raise ImageEncodingError(f"cannot compress to {image_format!r}; use jpeg or png")
    if not ok:
        raise ImageEncodingError(f"{image_format} encoding failed for a {rgb.shape} image")
    msg.format = f"rgb8; {image_format} compressed bgr8"
    msg.data = buffer.tobytes()
    return msg
