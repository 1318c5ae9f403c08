"""The standard extractors, on messages as rosbags deserializes them."""

import numpy as np
import pytest

from lerobot_recorder.bag import suite_typestore
from lerobot_recorder.errors import MappingError
from lerobot_recorder.extractors import EXTRACTORS, extractor_for, header_stamp_ns

T = suite_typestore().types
NAMES = ["a", "b"]


def vector(*values):
    return T["geometry_msgs/msg/Vector3"](x=values[0], y=values[1], z=values[2])


def test_joint_state_reorders_by_name():
    msg = T["sensor_msgs/msg/JointState"](
        header=T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=0, nanosec=0), frame_id=""),
        name=["b", "a", "c"], position=np.array([2.0, 1.0, 3.0]), velocity=np.zeros(0), effort=np.zeros(0),
    )  # fmt: skip
    assert EXTRACTORS["sensor_msgs/msg/JointState"](msg, NAMES).tolist() == [1.0, 2.0]
    assert header_stamp_ns(msg) is None  # a zero stamp means "no stamp"
    with pytest.raises(MappingError, match=r"missing \['z'\]"):
        EXTRACTORS["sensor_msgs/msg/JointState"](msg, ["a", "z"])


def test_float64_multi_array_must_match_the_joint_count():
    msg = T["std_msgs/msg/Float64MultiArray"](
        layout=T["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0), data=np.array([1.0, 2.0])
    )
    assert EXTRACTORS["std_msgs/msg/Float64MultiArray"](msg, NAMES).tolist() == [1.0, 2.0]
    with pytest.raises(MappingError, match="has 2 values, the profile names 3"):
        EXTRACTORS["std_msgs/msg/Float64MultiArray"](msg, ["a", "b", "c"])


def test_joint_trajectory_takes_its_first_point():
    point = T["trajectory_msgs/msg/JointTrajectoryPoint"](
        positions=np.array([5.0, 6.0]), velocities=np.zeros(0), accelerations=np.zeros(0), effort=np.zeros(0),
        time_from_start=T["builtin_interfaces/msg/Duration"](sec=0, nanosec=0),
    )  # fmt: skip
    header = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=1, nanosec=5), frame_id="")
    msg = T["trajectory_msgs/msg/JointTrajectory"](header=header, joint_names=["b", "a"], points=[point])
    assert EXTRACTORS["trajectory_msgs/msg/JointTrajectory"](msg, NAMES).tolist() == [6.0, 5.0]
    assert header_stamp_ns(msg) == 1_000_000_005


def test_twist_and_pose():
    twist = T["geometry_msgs/msg/Twist"](linear=vector(1, 2, 3), angular=vector(4, 5, 6))
    assert extractor_for("geometry_msgs/msg/Twist", "/cmd_vel")(twist, []).tolist() == [1, 2, 3, 4, 5, 6]
    pose = T["geometry_msgs/msg/Pose"](
        position=T["geometry_msgs/msg/Point"](x=1, y=2, z=3),
        orientation=T["geometry_msgs/msg/Quaternion"](x=0, y=0, z=0, w=1),
    )
    header = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=0, nanosec=0), frame_id="")
    stamped = T["geometry_msgs/msg/PoseStamped"](header=header, pose=pose)
    assert EXTRACTORS["geometry_msgs/msg/PoseStamped"](stamped, []).tolist() == [1, 2, 3, 0, 0, 0, 1]


def test_unknown_type_says_how_to_add_one():
    with pytest.raises(MappingError, match=r"topic /odd carries my/msg/Odd, which has no extractor.*EXTRACTORS"):
        extractor_for("my/msg/Odd", "/odd")
