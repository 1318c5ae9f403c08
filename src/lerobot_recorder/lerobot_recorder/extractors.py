"""Message -> feature values, one small function per message type, in a registry users extend.

    from lerobot_recorder.extractors import EXTRACTORS
    EXTRACTORS["my_msgs/msg/Gripper"] = lambda msg, names: np.array([msg.opening])

A numeric extractor gets the message and the feature's names (the profile's joint order) and
returns float values in that order; an image extractor returns RGB uint8 (H, W, 3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from lerobot_drivers.images import compressed_to_rgb, image_to_rgb
from lerobot_recorder.errors import MappingError

Extractor = Callable[[Any, Sequence[str]], np.ndarray]


def by_name(available: Sequence[str], values: Sequence[float], names: Sequence[str], what: str) -> np.ndarray:
    """Values reordered into `names`; every name must be present."""
    index = {name: i for i, name in enumerate(available)}
    missing = [n for n in names if n not in index]
    if missing:
        raise MappingError(f"{what} has joints {list(available)}, missing {missing} that the profile names")
    if len(values) < len(available):
        raise MappingError(f"{what} has {len(available)} names but only {len(values)} values")
    return np.array([values[index[n]] for n in names], dtype=np.float64)


def joint_state(msg: Any, names: Sequence[str]) -> np.ndarray:
    return by_name(msg.name, msg.position, names, "JointState")


def float64_array(msg: Any, names: Sequence[str]) -> np.ndarray:
    if len(msg.data) != len(names):
        raise MappingError(
            f"Float64MultiArray has {len(msg.data)} values, the profile names {len(names)}: {list(names)}"
        )
    return np.asarray(msg.data, dtype=np.float64)


def joint_trajectory(msg: Any, names: Sequence[str]) -> np.ndarray:
    """The first point: the target the controller was told to reach next."""
    if not len(msg.points):
        raise MappingError("JointTrajectory has no points")
    return by_name(msg.joint_names, msg.points[0].positions, names, "JointTrajectory")


def action_chunk(msg: Any, names: Sequence[str]) -> np.ndarray:
    """The first step of a lerobot_msgs/ActionChunk."""
    values = np.asarray(msg.values, dtype=np.float64).reshape(msg.horizon, msg.action_dim)
    return by_name(msg.joint_names, values[0], names, "ActionChunk")


def twist(msg: Any, names: Sequence[str]) -> np.ndarray:
    twist_msg = getattr(msg, "twist", msg)  # Twist or TwistStamped
    lin, ang = twist_msg.linear, twist_msg.angular
    return np.array([lin.x, lin.y, lin.z, ang.x, ang.y, ang.z], dtype=np.float64)


def pose(msg: Any, names: Sequence[str]) -> np.ndarray:
    pose_msg = getattr(msg, "pose", msg)  # Pose or PoseStamped
    p, q = pose_msg.position, pose_msg.orientation
    return np.array([p.x, p.y, p.z, q.x, q.y, q.z, q.w], dtype=np.float64)


EXTRACTORS: dict[str, Extractor] = {
    "sensor_msgs/msg/JointState": joint_state,
    "std_msgs/msg/Float64MultiArray": float64_array,
    "std_msgs/msg/Float32MultiArray": float64_array,
    "trajectory_msgs/msg/JointTrajectory": joint_trajectory,
    "lerobot_msgs/msg/ActionChunk": action_chunk,
    "geometry_msgs/msg/Twist": twist,
    "geometry_msgs/msg/TwistStamped": twist,
    "geometry_msgs/msg/Pose": pose,
    "geometry_msgs/msg/PoseStamped": pose,
}

IMAGE_EXTRACTORS: dict[str, Callable[[Any], np.ndarray]] = {
    "sensor_msgs/msg/Image": partial(image_to_rgb, copy=False),  # frames are only read: encoded and sampled
    "sensor_msgs/msg/CompressedImage": compressed_to_rgb,
}

# feature names for extractors whose output is not per joint
FIXED_NAMES: dict[str, list[str]] = {
    "geometry_msgs/msg/Twist": ["linear.x", "linear.y", "linear.z", "angular.x", "angular.y", "angular.z"],
    "geometry_msgs/msg/Pose": ["x", "y", "z", "qx", "qy", "qz", "qw"],
}
FIXED_NAMES["geometry_msgs/msg/TwistStamped"] = FIXED_NAMES["geometry_msgs/msg/Twist"]
FIXED_NAMES["geometry_msgs/msg/PoseStamped"] = FIXED_NAMES["geometry_msgs/msg/Pose"]


def extractor_for(msgtype: str, topic: str) -> Extractor:
    try:
        return EXTRACTORS[msgtype]
    except KeyError:
        raise MappingError(
            f"topic {topic} carries {msgtype}, which has no extractor; supported: {sorted(EXTRACTORS)}. "
            "Register one in lerobot_recorder.extractors.EXTRACTORS"
        ) from None


def image_extractor_for(msgtype: str, topic: str) -> Callable[[Any], np.ndarray]:
    try:
        return IMAGE_EXTRACTORS[msgtype]
    except KeyError:
        raise MappingError(
            f"camera topic {topic} carries {msgtype}; cameras must be sensor_msgs/Image or CompressedImage"
        ) from None


def header_stamp_ns(msg: Any) -> int | None:
    """The message's header stamp in ns, or None when it has no header or the stamp is zero."""
    header = getattr(msg, "header", None)
    if header is None:
        return None
    stamp = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
    return stamp or None
