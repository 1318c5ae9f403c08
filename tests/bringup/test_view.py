"""lerobot_view: a dataset and a live graph logged to Rerun, read back from the .rrd it writes."""

from pathlib import Path

import numpy as np
import pytest
from rerun.chunk import RrdReader

from lerobot_bringup.view_cli import main
from lerobot_drivers.description import description_for, rotation
from lerobot_drivers.profile import load_profile
from lerobot_recorder.convert import convert
from lerobot_recorder.reader import DatasetReader
from lerobot_recorder.spec import DatasetSpec
from lerobot_recorder.synthetic import SyntheticArm, write_bag
from ros_harness import interrupt, start_bringup

PROFILE = Path(__file__).resolve().parents[2] / "config" / "so101_follower_sim.yaml"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("view")
    bag = write_bag(folder / "bag", SyntheticArm(), [(0, 1.5, "wave")])
    convert([bag], DatasetSpec.from_profile(load_profile(PROFILE)), folder / "dataset", codec="libx264")
    return folder / "dataset"


def columns(rrd: Path) -> dict[str, dict[str, list]]:
    """Entity path -> column -> values, over every chunk of the recording."""
    found: dict[str, dict[str, list]] = {}
    for chunk in RrdReader(rrd).store().stream().to_chunks():
        for name, values in chunk.to_record_batch().to_pydict().items():
            found.setdefault(str(chunk.entity_path), {}).setdefault(name, []).extend(values)
    return found


def quaternion_matrix(xyzw) -> np.ndarray:
    x, y, z, w = xyzw
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip


def test_a_dataset_episode_poses_the_model_and_plots_both_joint_streams(dataset, tmp_path):
    assert main(["dataset", str(dataset), "--profile", str(PROFILE), "--save", str(tmp_path / "ep.rrd")]) == 0
    logged = columns(tmp_path / "ep.rrd")
    data = DatasetReader(dataset).episode_data(0)
    frames = len(data["timestamp"])
    description = description_for(load_profile(PROFILE))
    for name in description.movable:
        index = list(load_profile(PROFILE).joint_names).index(name)
        measured = [v[0] for v in logged[f"/joints/{name}/measured"]["Scalars:scalars"]]
        np.testing.assert_allclose(measured, data["observation.state"][:, index], atol=1e-6)
        assert len(logged[f"/joints/{name}/commanded"]["Scalars:scalars"]) == frames
        quaternions = logged[f"/robot/joints/{name}"]["Transform3D:quaternion"]
        assert len(quaternions) == frames
        joint = description.movable[name]
        expected = joint.origin[:3, :3] @ rotation(joint.axis, data["observation.state"][-1, index])
        np.testing.assert_allclose(quaternion_matrix(quaternions[-1][0]), expected, atol=1e-5)  # rows hold a batch
    assert len(logged["/cameras/front"]["EncodedImage:blob"]) == frames
    assert len(logged["/cameras/wrist"]["EncodedImage:blob"]) == frames
    assert any("visual_geometries" in path for path in logged), "the robot's meshes"


def test_bad_input_is_one_line(dataset, capsys):
    assert main(["dataset", str(dataset), "--profile", str(PROFILE), "--episode", "3", "--save", "/tmp/x.rrd"]) == 2
    assert capsys.readouterr().err.strip() == "lerobot_view: --episode 3: the dataset has episodes 0..0"
    assert main(["dataset", "/nowhere", "--profile", str(PROFILE), "--save", "/tmp/x.rrd"]) == 2
    assert "/nowhere is not a LeRobot dataset" in capsys.readouterr().err


@pytest.mark.slow
def test_live_from_the_graph_of_a_simulated_arm(ros_testbed, ros_probe, tmp_path):
    """The view runs until the graph has published a given number of messages since the view
    subscribed, counted by the probe: a count, not a time, so a loaded machine only takes longer."""
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image, JointState

    states = ros_probe.collect(JointState, "/follower/joint_states", qos_profile_sensor_data)
    wrist = ros_probe.collect(Image, "/wrist/image_raw", qos_profile_sensor_data)
    arm = start_bringup(ros_testbed, "sim_arm", "emulate_wire:=false")
    arm.wait_for_output(r"\[arm_driver\].*active at", 40)
    rrd = tmp_path / "live.rrd"
    view = ros_testbed.start_python(
        "view", "lerobot_bringup.view_cli", "live", "--profile", str(PROFILE), "--save", str(rrd)
    )
    view.wait_for_output(r"logging so101_follower_sim's topics to Rerun", 30)
    for topic in (states.topic, wrist.topic, "/front/image_raw/compressed"):
        ros_probe.wait_for_subscription_of("lerobot_view", topic)
    states.wait_for_more(300, timeout=90)
    wrist.wait_for_more(30, timeout=90)
    assert interrupt(view) == 0, view.output[-3000:]
    assert interrupt(arm) == 0
    logged = columns(rrd)
    # a starved view drops what it cannot keep up with (sensor-data QoS, latest wins)
    assert len(logged["/joints/shoulder_pan/measured"]["Scalars:scalars"]) > 20
    assert len(logged["/robot/joints/elbow_flex"]["Transform3D:quaternion"]) > 20
    assert len(logged["/cameras/front"]["EncodedImage:blob"]) > 5  # the jpeg frames as published
    assert len(logged["/cameras/wrist"]["EncodedImage:blob"]) > 5  # raw frames, compressed here


def test_a_predicted_chunk_is_the_tools_path(tmp_path):
    import rerun as rr

    from lerobot_bringup.view import RobotLog

    profile = load_profile(PROFILE)
    recording = rr.RecordingStream("test_view")
    recording.save(tmp_path / "chunk.rrd")
    log = RobotLog(recording, profile)
    rows = np.linspace(-0.5, 0.5, 10)[:, None] * np.ones((1, 6))
    log.at(0.0)
    log.chunk(profile.joint_names, rows)
    recording.flush()
    del recording, log  # the file sink writes its footer when the stream is dropped
    strips = columns(tmp_path / "chunk.rrd")["/robot/chunk_path"]["LineStrips3D:strips"]
    expected = description_for(profile).tool_path(profile.joint_names, rows)
    np.testing.assert_allclose(np.array(strips[-1][0]), expected, atol=1e-6)


def test_a_scenes_marker_is_drawn_as_its_shape(tmp_path):
    """The physics scene's cube, as the scene node publishes it, in Rerun: its centre, size,
    turn and colour, in the frame the marker names."""
    import rerun as rr
    from visualization_msgs.msg import Marker

    from lerobot_bringup.view import RobotLog
    from lerobot_bringup.view_node import shape_of

    marker = Marker(ns="block", type=Marker.CUBE)
    marker.header.frame_id = "base_link"
    marker.pose.position.x, marker.pose.position.y, marker.pose.position.z = 0.22, -0.1, 0.02
    marker.pose.orientation.z, marker.pose.orientation.w = np.sin(0.3), np.cos(0.3)
    marker.scale.x = marker.scale.y = marker.scale.z = 0.04
    marker.color.r, marker.color.g, marker.color.b, marker.color.a = 0.6, 0.3, 0.6, 1.0
    recording = rr.RecordingStream("test_view")
    recording.save(tmp_path / "scene.rrd")
    log = RobotLog(recording, load_profile(PROFILE))
    log.at(0.0)
    log.objects([shape_of(marker, "box")], marker.header.frame_id)
    recording.flush()
    del recording, log  # the file sink writes its footer when the stream is dropped
    box = columns(tmp_path / "scene.rrd")["/robot/scene/block"]
    np.testing.assert_allclose(box["Boxes3D:centers"][-1][0], [0.22, -0.1, 0.02], atol=1e-6)
    np.testing.assert_allclose(box["Boxes3D:half_sizes"][-1][0], [0.02, 0.02, 0.02], atol=1e-6)
    np.testing.assert_allclose(box["Boxes3D:quaternions"][-1][0], [0, 0, np.sin(0.3), np.cos(0.3)], atol=1e-6)
    assert box["CoordinateFrame:frame"][-1][0] == "base_link"
    rgba = box["Boxes3D:colors"][-1][0]
    assert [(rgba >> shift) & 255 for shift in (24, 16, 8, 0)] == [153, 76, 153, 255]
