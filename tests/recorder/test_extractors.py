"""The standard extractors, on messages as rosbags deserializes them."""

import numpy as np
import pytest

from lerobot_drivers.images import ENCODINGS, fill_image, image_to_rgb
from lerobot_recorder.bag import stamped_header, suite_typestore
from lerobot_recorder.content import cdr_image
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


@pytest.mark.parametrize("little_endian", [True, False])
@pytest.mark.parametrize("frame_id", ["", "a", "abc", "camera_optical_frame"])  # every padding before height
@pytest.mark.parametrize("encoding", ["rgb8", "bgra8", "mono16"])
def test_raw_images_read_straight_from_cdr_equal_rosbags(little_endian, frame_id, encoding):
    typestore = suite_typestore()
    channels, dtype = ENCODINGS[encoding]
    pixels = np.random.default_rng(0).integers(0, np.iinfo(dtype).max, (5, 7, channels)).astype(dtype)
    msg = typestore.types["sensor_msgs/msg/Image"](
        header=stamped_header(typestore, 123, frame_id), height=0, width=0, encoding="", is_bigendian=0, step=0,
        data=np.zeros(0, np.uint8),
    )  # fmt: skip
    fill_image(msg, pixels, encoding)
    msg.data = np.frombuffer(msg.data, np.uint8)
    raw = typestore.serialize_cdr(msg, "sensor_msgs/msg/Image", little_endian=little_endian)
    fast, full = cdr_image(raw), typestore.deserialize_cdr(raw, "sensor_msgs/msg/Image")
    for field in ("height", "width", "encoding", "is_bigendian", "step"):
        assert getattr(fast, field) == getattr(full, field), field
    np.testing.assert_array_equal(image_to_rgb(fast, copy=False), image_to_rgb(full))
    assert cdr_image(bytes(raw)[:40]) is None, "a cut message is left to the full deserializer"
