"""The camera node in its own process: synthetic and video-file sources."""

import itertools
import sys
from pathlib import Path

import av
import numpy as np
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from lerobot_drivers.cameras import decode_index, synthetic_frame
from lerobot_drivers.images import compressed_to_rgb, image_to_rgb


def start_camera(testbed, *params: str):
    args = [sys.executable, "-m", "lerobot_drivers.nodes.camera_node", "--ros-args"]
    for param in params:
        args += ["-p", param]
    return testbed.start("camera", args)


def activate(probe):
    for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
        request = ChangeState.Request(transition=Transition(id=transition))
        assert probe.call(ChangeState, "/camera/change_state", request).success


def test_synthetic_camera_publishes_raw_and_compressed(ros_testbed, ros_probe):
    camera = start_camera(ros_testbed, "width:=160", "height:=120", "fps:=20", "camera_name:=wrist")  # fps as typed
    raw = ros_probe.collect(Image, "/wrist/image_raw", qos_profile_sensor_data)
    compressed = ros_probe.collect(CompressedImage, "/wrist/image_raw/compressed", qos_profile_sensor_data)
    info = ros_probe.collect(CameraInfo, "/wrist/camera_info", qos_profile_sensor_data)
    activate(ros_probe)
    frames = raw.wait_for(20, timeout=20)
    first = frames[0]
    assert (first.width, first.height, first.encoding, first.header.frame_id) == (
        160,
        120,
        "rgb8",
        "wrist_camera_optical_frame",
    )
    infos = info.wait_for(5)  # one per frame, same stamp and frame; uncalibrated: K all zero
    assert all((m.width, m.height, m.header.frame_id) == (160, 120, "wrist_camera_optical_frame") for m in infos)
    assert set(infos[0].k) == {0.0}
    image_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in raw.snapshot()}
    assert any((m.header.stamp.sec, m.header.stamp.nanosec) in image_stamps for m in infos)
    image = image_to_rgb(first)
    assert np.array_equal(image, synthetic_frame(decode_index(image), 160, 120))  # bit-exact frame content
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in frames]
    assert all(b > a for a, b in itertools.pairwise(stamps))
    # paced on a fixed schedule at the configured rate: never faster on average (a loaded
    # machine may drop some, counted, and take the next right after a late one)
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert 8 < rate <= 21, f"published at {rate:.1f} fps, configured 20"
    jpeg = compressed.wait_for(1)[0]
    assert jpeg.format == "rgb8; jpeg compressed bgr8"
    assert compressed_to_rgb(jpeg).shape == (120, 160, 3)
    assert camera.stop() == 0 and "Traceback" not in camera.output, camera.output[-3000:]  # Ctrl-C mid-capture
    assert "Failed to publish log message" not in camera.output


def test_video_file_camera_plays_the_file(ros_testbed, ros_probe, tmp_path):
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        stream.options = {"crf": "10"}
        for index in range(20):
            frame = av.VideoFrame.from_ndarray(synthetic_frame(index, 128, 96), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    start_camera(ros_testbed, "source:=file", f"file:={path}", "width:=128", "height:=96", "publish_compressed:=false")
    raw = ros_probe.collect(Image, "/camera/image_raw", qos_profile_sensor_data)
    activate(ros_probe)
    frames = raw.wait_for(25, timeout=20)
    indices = [decode_index(image_to_rgb(m)) for m in frames]
    assert set(range(20)) <= set(indices), f"not every frame of the file was played: {indices}"
    assert 0 in indices[1:], "the file loops"
    sample = image_to_rgb(frames[5])
    expected = synthetic_frame(decode_index(sample), 128, 96)
    assert np.abs(sample.astype(int) - expected).mean() < 4  # codec tolerance


def test_missing_device_fails_configure_with_a_clear_message(ros_testbed, ros_probe):
    camera = start_camera(ros_testbed, "source:=device", "device:=/dev/video99")
    request = ChangeState.Request(transition=Transition(id=Transition.TRANSITION_CONFIGURE))
    assert not ros_probe.call(ChangeState, "/camera/change_state", request).success
    camera.wait_for_output(r"cannot open camera '/dev/video99'")


def test_a_calibration_file_is_published_and_a_wrong_size_refused(ros_testbed, ros_probe):
    path = Path(__file__).parent / "data" / "front_calibration.yaml"  # as camera_calibration writes it
    start_camera(ros_testbed, "camera_name:=front", f"camera_info_url:=file://{path}")
    info = ros_probe.collect(CameraInfo, "/front/camera_info", qos_profile_sensor_data)
    activate(ros_probe)
    got = info.wait_for(1, timeout=20)[0]
    assert (got.width, got.height, got.distortion_model, got.k[0], got.p[2]) == (640, 480, "plumb_bob", 615.2, 320.0)
    wrong = start_camera(ros_testbed, "width:=320", "height:=240", f"camera_info_url:={path}", "autostart:=true")
    wrong.wait_for_output(r"configure failed: .* calibrates 640x480 images but the camera captures 320x240", 30)
