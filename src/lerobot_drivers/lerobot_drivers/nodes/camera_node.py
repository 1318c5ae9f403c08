"""Camera as a lifecycle node: Image and CompressedImage, stamped at capture, with CameraInfo.

configure = open the source and read its calibration; activate = start the capture thread;
deactivate = stop it. Topics: <name>/image_raw, <name>/image_raw/compressed and
<name>/camera_info (same stamp and frame; sensor-data QoS), diagnostics with the achieved rate
and the dropped frames.
"""

from __future__ import annotations

import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time
from rclpy.timer import Timer
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from lerobot_drivers.camera_info import Intrinsics, load_intrinsics
from lerobot_drivers.cameras import SOURCES, CameraError, CaptureLoop, FrameSource
from lerobot_drivers.images import fill_compressed, fill_image
from lerobot_drivers.nodes.parameters import ParameterRules, declare_parameters, number
from lerobot_drivers.nodes.run import RCLError, ReleasingNode, logged_transition, spin_lifecycle
from lerobot_drivers.profile import camera_frames


class CameraNode(ReleasingNode):
    def __init__(self) -> None:
        super().__init__("camera")
        params = {
            "source": ("synthetic", f"frame source: {sorted(SOURCES)}"),
            "device": ("/dev/video0", "V4L2 device path or index (source=device)"),
            "file": ("", "video file to play (source=file)"),
            "scene": ("", "the scene state `lerobot_sim_bus --scene` prints (source=mujoco; camera: camera_name)"),
            "width": (640, "frame width, pixels"),
            "height": (480, "frame height, pixels"),
            "fps": (30.0, "frames per second"),
            "camera_name": ("camera", "topic namespace: <camera_name>/image_raw"),
            "frame_id": (
                "",
                "header.frame_id; empty: <camera_name>_camera_optical_frame (REP-103; where a profile mount puts it)",
            ),
            "camera_info_url": ("", "calibration YAML (camera_calibration's; path or file://); empty: uncalibrated"),
            "publish_raw": (True, "publish sensor_msgs/Image"),
            "publish_compressed": (True, "publish sensor_msgs/CompressedImage (jpeg)"),
            "jpeg_quality": (90, "jpeg quality, 1-100"),
            "autostart": (False, "configure and activate at start-up; exit non-zero if that fails"),
        }
        declare_parameters(self, params)
        ParameterRules(
            self,
            numbers=("width", "height", "fps", "jpeg_quality"),
            positive=("width", "height", "fps", "jpeg_quality"),
            at_configure=set(params) - {"autostart"},
            is_configured=lambda: self.is_configured,
        )
        self._source: FrameSource | None = None
        self._loop: CaptureLoop | None = None
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self._diag_timer: Timer | None = None
        self._window = (time.monotonic(), 0)

    @property
    def is_configured(self) -> bool:
        return self._source is not None

    def _param(self, name: str):
        return self.get_parameter(name).value

    @logged_transition
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        kind = self._param("source")
        size = (self._param("width"), self._param("height"), number(self, "fps"))
        try:
            if kind not in SOURCES:
                raise CameraError(f"unknown camera source {kind!r}; use one of {sorted(SOURCES)}")
            extra = {
                "file": {"path": self._param("file")},
                "device": {"device": self._param("device")},
                "mujoco": {"state": self._param("scene"), "camera": self._param("camera_name")},
            }
            info = camera_info(load_intrinsics(self._param("camera_info_url"), size[0], size[1]))
            self._source = SOURCES[kind](*size, **extra.get(kind, {}))
            self._source.open()
        except CameraError as exc:
            self.get_logger().error(f"configure failed: {exc}")
            self._source = None
            return TransitionCallbackReturn.FAILURE
        name = self._param("camera_name")
        self._info = info
        self._info_pub = self.create_publisher(CameraInfo, f"{name}/camera_info", qos_profile_sensor_data)
        self._raw_pub = self.create_publisher(Image, f"{name}/image_raw", qos_profile_sensor_data)
        self._compressed_pub = self.create_publisher(
            CompressedImage, f"{name}/image_raw/compressed", qos_profile_sensor_data
        )
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.get_logger().info(f"configured {kind} camera {size[0]}x{size[1]} at {size[2]} fps as {name}")
        return TransitionCallbackReturn.SUCCESS

    @logged_transition
    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        assert self._source is not None
        self._loop = CaptureLoop(self._source)
        self._running.set()
        self._thread = threading.Thread(target=self._capture, name="capture", daemon=True)
        self._thread.start()
        self._diag_timer = self.create_timer(1.0, self._publish_diagnostics)
        return super().on_activate(state)

    @logged_transition
    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop()
        return super().on_deactivate(state)

    def _stop(self) -> None:
        self._running.clear()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None

    def release(self) -> None:
        self._stop()
        if self._source is not None:
            self._source.close()
            self._source = None

    def _capture(self) -> None:
        assert self._loop is not None
        frame_id = self._param("frame_id") or camera_frames(self._param("camera_name"))[1]
        raw, compressed = self._param("publish_raw"), self._param("publish_compressed")
        quality = self._param("jpeg_quality")
        while self._running.is_set() and self.context.ok():  # Ctrl-C ends the context before release()
            try:
                frame = self._loop.next_frame()
            except CameraError as exc:
                self.get_logger().error(str(exc), throttle_duration_sec=2.0)
                time.sleep(0.1)
                continue
            stamp = Time(nanoseconds=frame.stamp_ns).to_msg()
            try:
                if raw:
                    msg = fill_image(Image(), frame.image)
                    msg.header.stamp, msg.header.frame_id = stamp, frame_id
                    self._raw_pub.publish(msg)
                if compressed:
                    msg = fill_compressed(CompressedImage(), frame.image, "jpeg", quality)
                    msg.header.stamp, msg.header.frame_id = stamp, frame_id
                    self._compressed_pub.publish(msg)
                self._info.header.stamp, self._info.header.frame_id = stamp, frame_id
                self._info_pub.publish(self._info)
            except RCLError:
                if self.context.ok():
                    raise
                return  # the context ended between the check and the publish

    def _publish_diagnostics(self) -> None:
        loop = self._loop
        if loop is None:
            return
        start, count = self._window
        now = time.monotonic()
        rate = (loop.captured - count) / (now - start)
        self._window = (now, loop.captured)
        level = DiagnosticStatus.OK if rate >= 0.9 * number(self, "fps") else DiagnosticStatus.WARN
        status = DiagnosticStatus(
            level=level,
            name=f"{self.get_name()}: {self._param('camera_name')}",
            message="ok" if level == DiagnosticStatus.OK else "below the configured rate",
            hardware_id=str(self._param("device") if self._param("source") == "device" else self._param("source")),
            values=[
                KeyValue(key="rate_hz", value=f"{rate:.1f}"),
                KeyValue(key="frames", value=str(loop.captured)),
                KeyValue(key="dropped_frames", value=str(loop.dropped)),
            ],
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(array)


def camera_info(intrinsics: Intrinsics) -> CameraInfo:
    return CameraInfo(
        width=intrinsics.width, height=intrinsics.height, distortion_model=intrinsics.distortion_model,
        d=list(intrinsics.d), k=list(intrinsics.k), r=list(intrinsics.r), p=list(intrinsics.p),
    )  # fmt: skip


def main(args: list[str] | None = None) -> int:
    return spin_lifecycle(CameraNode, args)


if __name__ == "__main__":
    sys.exit(main())
