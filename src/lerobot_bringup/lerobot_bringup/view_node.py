"""The live side of `lerobot_view`: a node that logs the robot's topics to Rerun as they come."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, JointState
from visualization_msgs.msg import Marker, MarkerArray

from lerobot_bringup.view import RobotLog
from lerobot_drivers.images import image_to_rgb
from lerobot_drivers.nodes.scene_node import MARKER_TYPES
from lerobot_drivers.ros_time import time_to_ns
from lerobot_drivers.sim.objects import Shape
from lerobot_msgs.msg import ActionChunk

SHAPE_KINDS = {marker: kind for kind, marker in MARKER_TYPES.items()}  # the scene node's markers


class ViewNode(Node):
    """Subscribes to what the profile names (and the policy's chunks); logs each message."""

    def __init__(self, log: RobotLog, chunk_topic: str) -> None:
        super().__init__("lerobot_view")
        self.log, topics = log, log.profile.topics
        self.create_subscription(JointState, topics.joint_states, self._on_state, qos_profile_sensor_data)
        if topics.command_type == "joint_state":
            commands = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
            self.create_subscription(JointState, topics.joint_commands, self._on_command, commands)
        for camera in log.profile.cameras:
            kind = CompressedImage if camera.compressed else Image
            callback = lambda msg, name=camera.name: self._on_image(name, msg)  # noqa: E731
            self.create_subscription(kind, camera.topic, callback, qos_profile_sensor_data)
        self.create_subscription(ActionChunk, chunk_topic, self._on_chunk, 10)
        self.create_subscription(MarkerArray, "scene/markers", self._on_scene, 1)  # a physics scene's objects

    def _at(self, stamp: Time) -> None:
        """The message's stamp; its arrival where a publisher leaves the stamp zero."""
        self.log.at_stamp(time_to_ns(stamp) or self.get_clock().now().nanoseconds)

    def _on_state(self, msg: JointState) -> None:
        self._at(msg.header.stamp)
        self.log.measured(msg.name, msg.position)

    def _on_command(self, msg: JointState) -> None:
        self._at(msg.header.stamp)
        self.log.commanded(msg.name, msg.position)

    def _on_image(self, camera: str, msg: Image | CompressedImage) -> None:
        self._at(msg.header.stamp)
        if isinstance(msg, CompressedImage):
            self.log.jpeg(camera, bytes(msg.data))
        else:
            self.log.image(camera, image_to_rgb(msg))

    def _on_chunk(self, msg: ActionChunk) -> None:
        self._at(msg.observation_stamp)
        self.log.chunk(msg.joint_names, np.reshape(msg.values, (msg.horizon, msg.action_dim)))

    def _on_scene(self, msg: MarkerArray) -> None:
        drawn = [m for m in msg.markers if m.action == Marker.ADD and m.type in SHAPE_KINDS]
        if not drawn:
            return
        self._at(drawn[0].header.stamp)
        for frame in {m.header.frame_id for m in drawn}:
            self.log.objects([shape_of(m, SHAPE_KINDS[m.type]) for m in drawn if m.header.frame_id == frame], frame)


def shape_of(marker: Marker, kind: str) -> Shape:
    p, q, s, c = marker.pose.position, marker.pose.orientation, marker.scale, marker.color
    return Shape(
        marker.ns or f"marker_{marker.id}", kind, (s.x, s.y, s.z), np.array([p.x, p.y, p.z]),
        np.array([q.x, q.y, q.z, q.w]), (c.r, c.g, c.b, c.a),
    )  # fmt: skip
