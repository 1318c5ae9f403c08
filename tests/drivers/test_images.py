"""Image conversions, for every encoding the suite reads."""

import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from lerobot_drivers.cameras import decode_index, synthetic_frame
from lerobot_drivers.images import (
    ImageEncodingError,
    compressed_to_rgb,
    fill_compressed,
    fill_image,
    image_to_array,
    image_to_rgb,
)

RGB = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)


def test_rgb8_round_trip():
    assert np.array_equal(image_to_rgb(fill_image(Image(), RGB)), RGB)


def test_bgr8_is_turned_into_rgb():
    assert np.array_equal(image_to_rgb(fill_image(Image(), RGB[..., ::-1].copy(), "bgr8")), RGB)


def test_mono_and_depth_become_three_channels():
    mono = RGB[..., 0]
    assert np.array_equal(image_to_rgb(fill_image(Image(), mono, "mono8"))[..., 2], mono)
    depth = (mono.astype(np.uint16) << 8) | 7
    msg = fill_image(Image(), depth, "16UC1")
    assert np.array_equal(image_to_array(msg)[..., 0], depth)
    assert np.array_equal(image_to_rgb(msg)[..., 1], mono)


def test_padded_rows_are_honoured():
    msg = fill_image(Image(), RGB)
    padded = np.zeros((6, msg.step + 4), np.uint8)
    padded[:, : msg.step] = np.frombuffer(msg.data, np.uint8).reshape(6, msg.step)
    msg.step, msg.data = msg.step + 4, padded.tobytes()
    assert np.array_equal(image_to_rgb(msg), RGB)


@pytest.mark.parametrize(("fmt", "tolerance"), [("png", 0), ("jpeg", 40)])
def test_compressed_round_trip(fmt, tolerance):
    image = synthetic_frame(12, 96, 64)
    back = compressed_to_rgb(fill_compressed(CompressedImage(), image, fmt))
    assert back.shape == image.shape
    assert np.abs(back.astype(int) - image).mean() <= tolerance / 10
    assert decode_index(back) == 12


def test_bad_inputs_are_named():
    msg = fill_image(Image(), RGB)
    msg.encoding = "yuv422"
    with pytest.raises(ImageEncodingError, match="encoding 'yuv422' is not supported"):
        image_to_rgb(msg)
    short = fill_image(Image(), RGB)
    short.data = short.data[:-1]
    with pytest.raises(ImageEncodingError, match="needs step >= 15"):
        image_to_rgb(short)
    with pytest.raises(ImageEncodingError, match="format 'tiff' is not supported"):
        compressed_to_rgb(CompressedImage(format="tiff", data=b"x"))
