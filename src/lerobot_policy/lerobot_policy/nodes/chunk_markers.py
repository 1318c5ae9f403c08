"""The predicted chunk as rviz sees it: the path of the robot's tool through the chunk's steps.

Forward kinematics of the profile's URDF (`lerobot_drivers.description`) turn each step's joint
targets into the tool's position; the path is a LINE_STRIP in the URDF's root frame, with a
sphere where the chunk starts, replaced (same id) by each new chunk.
"""

from __future__ import annotations

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
from visualization_msgs.msg import Marker, MarkerArray

from lerobot_drivers.description import RobotDescription
from lerobot_policy.action_chunk import ActionChunk

NAMESPACE = "policy_chunk"


def chunk_markers(description: RobotDescription, chunk: ActionChunk, stamp: Time) -> MarkerArray:
    path = description.tool_path(chunk.joint_names, chunk.values)
    points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in path]
    path = Marker(ns=NAMESPACE, id=0, type=Marker.LINE_STRIP, action=Marker.ADD, points=points)
    path.scale.x = 0.004
    path.color.r, path.color.g, path.color.b, path.color.a = 0.1, 0.8, 0.3, 1.0
    start = Marker(ns=NAMESPACE, id=1, type=Marker.SPHERE, action=Marker.ADD)
    start.pose.position = points[0]
    start.scale.x = start.scale.y = start.scale.z = 0.012
    start.color.r, start.color.g, start.color.b, start.color.a = 1.0, 0.6, 0.1, 1.0
    for marker in (path, start):
        marker.header.frame_id = description.root
        marker.header.stamp = stamp
        marker.pose.orientation.w = 1.0
    return MarkerArray(markers=[path, start])
