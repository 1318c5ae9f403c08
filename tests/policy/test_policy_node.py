"""The policy node in its own process, fed by the robot's topics from the test process."""

import math
import sys
import time
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from lerobot_drivers.cameras import synthetic_frame
from lerobot_drivers.description import description_for
from lerobot_drivers.images import fill_compressed, fill_image
from lerobot_drivers.profile import load_profile
from lerobot_msgs.msg import ActionChunk, PolicyStatus

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "config" / "so101_follower_sim.yaml"
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]


class Robot:
    """What the arm and camera drivers would publish; the cameras can be cut."""

    def __init__(self, node) -> None:
        self.node = node
        self.state = node.create_publisher(JointState, "/follower/joint_states", qos_profile_sensor_data)
        self.front = node.create_publisher(CompressedImage, "/front/image_raw/compressed", qos_profile_sensor_data)
        self.wrist = node.create_publisher(Image, "/wrist/image_raw", qos_profile_sensor_data)
        self.frame = 0
        self.timers = [node.create_timer(0.01, self.joints), node.create_timer(1 / 30, self.cameras)]

    def joints(self) -> None:
        now = self.node.get_clock().now()
        msg = JointState(name=JOINTS, position=[0.3 * math.sin(now.nanoseconds / 1e9 + i) for i in range(6)])
        msg.header.stamp = now.to_msg()
        self.state.publish(msg)

    def cameras(self) -> None:
        image = synthetic_frame(self.frame, 160, 120)
        self.frame += 1
        stamp = self.node.get_clock().now().to_msg()
        jpeg, raw = fill_compressed(CompressedImage(), image), fill_image(Image(), image)
        jpeg.header.stamp = raw.header.stamp = stamp
        self.front.publish(jpeg)
        self.wrist.publish(raw)

    def cut_cameras(self) -> None:
        self.node.destroy_timer(self.timers.pop())


def start_policy(testbed, policy: Path, *params: str):
    args = [sys.executable, "-m", "lerobot_policy.nodes.policy_node", "--ros-args",
            "-p", f"policy_path:={policy}", "-p", f"profile:={PROFILE}", "-p", "autostart:=true"]  # fmt: skip
    for param in params:
        args += ["-p", param]
    return testbed.start("policy", args)


def assert_paths_follow_the_chunks(paths: list, chunks: list) -> None:
    """Each ~/chunk_path is the gripper's path (forward kinematics of the URDF) through one chunk."""
    description = description_for(load_profile(PROFILE))
    expected = [
        np.array([description.pose("gripper_frame_link", dict(zip(JOINTS, row, strict=True)))[:3, 3] for row in rows])
        for rows in (np.reshape(c.values, (c.horizon, c.action_dim)) for c in chunks)
    ]
    for array in paths:
        line, start = array.markers
        assert line.header.frame_id == "base_link" and line.type == line.LINE_STRIP and start.type == start.SPHERE
        points = np.array([(p.x, p.y, p.z) for p in line.points])
        assert any(len(e) == len(points) and np.abs(e - points).max() < 1e-9 for e in expected)
        assert np.allclose((start.pose.position.x, start.pose.position.y, start.pose.position.z), points[0])
        assert 0.05 < np.linalg.norm(points, axis=1).min() < 0.6  # within the arm's reach


def test_the_policy_commands_the_arm_and_stops_on_stale_cameras(ros_testbed, ros_probe, trained_policy):
    commands = ros_probe.collect(
        JointState, "/follower/joint_commands", QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT)
    )
    chunks = ros_probe.collect(ActionChunk, "/policy/action_chunk", 50)
    paths = ros_probe.collect(MarkerArray, "/policy/chunk_path", 50)
    status = ros_probe.collect(PolicyStatus, "/policy/status", 50)
    diagnostics = ros_probe.collect(DiagnosticArray, "/diagnostics", 50)
    robot = Robot(ros_probe.node)
    node = start_policy(ros_testbed, trained_policy, "task:=pick the cube", "inference_steps:=3")
    first = chunks.wait_for(2, timeout=60)[0]
    assert (first.horizon, first.action_dim, list(first.joint_names)) == (10, 6, JOINTS)
    assert len(first.values) == 60 and all(math.isfinite(v) for v in first.values)
    assert abs(first.period.nanosec / 1e9 - 1 / 30) < 1e-6 and first.observation_stamp.sec > 0
    sent = commands.wait_for(15, timeout=30)
    assert all(m.name == JOINTS and np.isfinite(m.position).all() for m in sent)
    time.sleep(0.5)  # the chunk a command came from may still be on its way here: topics are not ordered
    chunk_rows = {tuple(np.round(np.reshape(c.values, (10, 6))[k], 9)) for c in chunks.snapshot() for k in range(10)}
    assert tuple(np.round(sent[-1].position, 9)) in chunk_rows  # every command is a step of a published chunk
    assert_paths_follow_the_chunks(paths.wait_for(2), chunks.snapshot())
    running = status.wait_for(1, timeout=10, where=lambda m: m.state == PolicyStatus.STATE_RUNNING)[0]
    assert running.task == "pick the cube" and running.chunks_published >= 1
    values_of = lambda m: {kv.key: kv.value for kv in m.status[0].values}  # noqa: E731
    after_warm_up = lambda m: m.status[0].name == "policy: policy" and int(values_of(m)["merged chunks"]) >= 2  # noqa: E731
    values = values_of(diagnostics.wait_for(1, timeout=20, where=after_warm_up)[-1])  # the first call is warm-up
    assert values["chunk execution"] == "rtc" and float(values["inference latency p50 (s)"]) > 0
    assert int(values["merged chunks"]) >= 1 and float(values["largest step inside a chunk (rad)"]) > 0

    ros_probe.node.create_publisher(String, "/policy/task", 10).publish(String(data="place the cube"))
    status.wait_for(1, timeout=10, where=lambda m: m.task == "place the cube")

    robot.cut_cameras()
    status.wait_for(1, timeout=10, where=lambda m: m.state == PolicyStatus.STATE_HOLDING_STALE_OBSERVATION)
    time.sleep(0.3)
    count = len(commands.snapshot())
    time.sleep(1.0)
    assert len(commands.snapshot()) == count, "the policy kept commanding on a stale observation"
    assert node.stop() == 0 and "Traceback" not in node.output, node.output[-3000:]  # Ctrl-C: a clean exit


def test_a_missing_policy_folder_fails_configure_and_names_the_files(ros_testbed, tmp_path):
    node = start_policy(ros_testbed, tmp_path / "nowhere", "task:=x")
    node.wait_for_output(r"configure failed: .* has no normalization.safetensors", timeout=30)
    empty = start_policy(ros_testbed, "''", "task:=x")  # as launch passes an empty argument
    empty.wait_for_output(r"configure failed: no policy given: set policy_path", timeout=30)


def test_a_joint_trajectory_interface_gets_each_chunk_as_timed_points(ros_testbed, ros_probe, trained_policy, tmp_path):
    """command_type joint_trajectory (joint_trajectory_controller): per merged chunk, the steps
    still to run as points one period apart, the header stamp when the first is due; the
    enable service stops and resumes commanding; dry_run never commands."""
    profile = tmp_path / "trajectory.yaml"
    ours = "joint_commands: /arm_controller/joint_trajectory, command_type: joint_trajectory}"
    text = PROFILE.read_text().replace("joint_commands: follower/joint_commands}", ours)
    text = text.replace("calibration: calibration/", f"calibration: {ROOT}/config/calibration/")
    profile.write_text(text)
    trajectories = ros_probe.collect(JointTrajectory, "/arm_controller/joint_trajectory", 50)
    chunks = ros_probe.collect(ActionChunk, "/policy/action_chunk", 50)
    Robot(ros_probe.node)
    node = start_policy(ros_testbed, trained_policy, "task:=pick the cube", "inference_steps:=3", f"profile:={profile}")
    got = trajectories.wait_for(3, timeout=60)
    period = 1 / 30
    for msg in got:
        assert list(msg.joint_names) == JOINTS and 1 <= len(msg.points) <= 10
        offsets = [p.time_from_start.sec + p.time_from_start.nanosec / 1e9 for p in msg.points]
        np.testing.assert_allclose(offsets, [k * period for k in range(len(offsets))], atol=1e-6)
        due = msg.header.stamp.sec + msg.header.stamp.nanosec / 1e9
        assert abs(due - time.time()) < 5.0
    rows = {tuple(np.round(np.reshape(c.values, (10, 6))[k], 9)) for c in chunks.snapshot() for k in range(10)}
    max_step = 0.15 * 100 / 30  # the profile's max_step_rad per cycle at rate_hz, per policy step
    for msg in got:
        points = np.array([p.positions for p in msg.points])
        steps = np.abs(np.diff(points, axis=0))
        assert (steps <= max_step + 1e-9).all()
        for k in range(1, len(points)):  # a point is its chunk's step, unless the step limit held it back
            assert tuple(np.round(points[k], 9)) in rows or np.isclose(steps[k - 1], max_step).any()

    assert ros_probe.call(SetBool, "/policy/enable", SetBool.Request(data=False)).success
    time.sleep(0.3)
    count = len(trajectories.snapshot())
    time.sleep(1.0)
    assert len(trajectories.snapshot()) == count, "commands went on while disabled"
    assert ros_probe.call(SetBool, "/policy/enable", SetBool.Request(data=True)).success
    trajectories.wait_for(count + 1, timeout=20)
    assert node.stop() == 0 and "Traceback" not in node.output, node.output[-3000:]
