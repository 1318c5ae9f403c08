"""The physics scene's objects as rviz markers: `scene/markers` (visualization_msgs/MarkerArray)
in the robot's root frame, from the state a running `lerobot_sim_bus --scene` shares. The
Rerun view (lerobot_view live) draws the same topic.

configure = attach to the scene; activate = publish at `rate_hz`; deactivate = stop.
"""

from __future__ import annotations

import sys
from pathlib import Path

from geometry_msgs.msg import Point, Quaternion, Vector3
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile
from rclpy.timer import Timer
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from lerobot_drivers.errors import DriverError
from lerobot_drivers.nodes.parameters import ParameterRules, declare_parameters, number
from lerobot_drivers.nodes.run import ReleasingNode, logged_transition, spin_lifecycle
from lerobot_drivers.sim.objects import SceneObjects, Shape

MARKER_TYPES = {"box": Marker.CUBE, "sphere": Marker.SPHERE, "cylinder": Marker.CYLINDER}


class SceneNode(ReleasingNode):
    def __init__(self) -> None:
        super().__init__("scene_objects")
        params = {
            "scene": ("", "the scene state `lerobot_sim_bus --scene` prints as `scene:`"),
            "rate_hz": (10.0, "markers per second"),
            "autostart": (False, "configure and activate at start-up; exit non-zero if that fails"),
        }
        declare_parameters(self, params)
        ParameterRules(
            self, numbers=("rate_hz",), positive=("rate_hz",), at_configure=("scene", "rate_hz"),
            is_configured=lambda: self.is_configured,
        )  # fmt: skip
        self._objects: SceneObjects | None = None
        self._timer: Timer | None = None

    @property
    def is_configured(self) -> bool:
        return self._objects is not None

    @logged_transition
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._objects = SceneObjects(Path(self.get_parameter("scene").value))
        except DriverError as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        self._publisher = self.create_publisher(MarkerArray, "scene/markers", QoSProfile(depth=1))
        names = [shape.name for shape in self._objects.shapes()]
        self.get_logger().info(f"scene objects {names} in frame {self._objects.frame}")
        return TransitionCallbackReturn.SUCCESS

    @logged_transition
    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._timer = self.create_timer(1.0 / number(self, "rate_hz"), self._publish)
        return super().on_activate(state)

    @logged_transition
    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop()
        return super().on_deactivate(state)

    def _stop(self) -> None:
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None

    def release(self) -> None:
        self._stop()
        if self._objects is not None:
            self._objects.close()
            self._objects = None

    def _publish(self) -> None:
        assert self._objects is not None  # active
        stamp = self.get_clock().now().to_msg()
        markers = [self._marker(i, shape, self._objects.frame) for i, shape in enumerate(self._objects.shapes())]
        for marker in markers:
            marker.header.stamp = stamp
        self._publisher.publish(MarkerArray(markers=markers))

    @staticmethod
    def _marker(index: int, shape: Shape, frame: str) -> Marker:
        marker = Marker(ns=shape.name, id=index, type=MARKER_TYPES[shape.kind], action=Marker.ADD)
        marker.header.frame_id = frame
        marker.pose.position = Point(x=float(shape.position[0]), y=float(shape.position[1]), z=float(shape.position[2]))
        x, y, z, w = (float(v) for v in shape.quaternion)
        marker.pose.orientation = Quaternion(x=x, y=y, z=z, w=w)
        marker.scale = Vector3(x=shape.size[0], y=shape.size[1], z=shape.size[2])
        marker.color = ColorRGBA(r=shape.rgba[0], g=shape.rgba[1], b=shape.rgba[2], a=shape.rgba[3])
        return marker


def main(args: list[str] | None = None) -> int:
    return spin_lifecycle(SceneNode, args)


if __name__ == "__main__":
    sys.exit(main())
