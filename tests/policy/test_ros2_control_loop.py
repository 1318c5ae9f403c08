"""The policy deployed on a robot the suite does not drive: a 7-joint arm under a stand-in
joint_trajectory_controller, described by a profile without a bus, all in separate processes."""

import itertools
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import NODES
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from lerobot_drivers.profile import load_profile
from lerobot_drivers.ros_time import duration_to_s, time_to_ns
from lerobot_recorder.convert import convert
from lerobot_recorder.spec import DatasetSpec
from lerobot_recorder.synthetic import SyntheticArm, write_bag
from ros_harness import wait_until

ROOT = Path(__file__).resolve().parents[2]
JOINTS = [f"joint{i}" for i in range(1, 8)]
PERIOD = 1 / 30


def arm_profile(folder: Path) -> Path:
    """config/ros2_control_arm.yaml, commanding its joint_trajectory_controller."""
    text = (ROOT / "config" / "ros2_control_arm.yaml").read_text()
    ours = "joint_commands: /arm_controller/joint_trajectory, command_type: joint_trajectory}"
    text = text.replace("joint_commands: arm_controller/commands, command_type: float64_array}", ours)
    assert ours in text
    path = folder / "arm.yaml"
    path.write_text(text)
    return path


def seven_joint_policy(folder: Path, profile: Path) -> Path:
    """A tiny policy trained (2 steps) on data recorded from this arm's topics and converted."""
    from lerobot_policy.train import TrainConfig, train

    arm = SyntheticArm(
        joints=tuple(JOINTS), state_topic="/joint_states", cameras={"front": ("/front/image_raw", False)}
    )
    bag = write_bag(folder / "bag", arm, [(0, 2, "reach the cube")])
    convert([bag], DatasetSpec.from_profile(load_profile(profile)), folder / "dataset", codec="libx264")
    last = train(TrainConfig(dataset=str(folder / "dataset"), output=str(folder / "run"), steps=2, batch_size=2,
                             progress=False))  # fmt: skip
    return last / "pretrained_model"


def played(trajectory: JointTrajectory, t_ns: np.ndarray) -> np.ndarray:
    """Where a controller playing `trajectory` puts the joints at times past its first point."""
    start = time_to_ns(trajectory.header.stamp)
    due = np.array([start + round(duration_to_s(p.time_from_start) * 1e9) for p in trajectory.points], np.float64)
    order = [list(trajectory.joint_names).index(name) for name in JOINTS]
    points = np.array([p.positions for p in trajectory.points])[:, order]
    return np.stack([np.interp(t_ns, due, points[:, j]) for j in range(len(JOINTS))], axis=1)


@pytest.mark.slow
def test_a_seven_joint_ros2_control_arm_follows_the_chunks_in_time(ros_testbed, ros_probe, tmp_path):
    profile = arm_profile(tmp_path)
    policy = seven_joint_policy(tmp_path, profile)
    states = ros_probe.collect(
        JointState, "/joint_states", QoSProfile(depth=2000, reliability=ReliabilityPolicy.BEST_EFFORT)
    )
    arrivals = []  # (receive ns, trajectory)
    ros_probe.node.create_subscription(
        JointTrajectory, "/arm_controller/joint_trajectory", lambda m: arrivals.append((time.time_ns(), m)), 100
    )
    arm = ros_testbed.start_python("arm", str(NODES / "trajectory_arm.py"))
    camera = ros_testbed.start_python(
        "camera", "lerobot_drivers.nodes.camera_node", "--ros-args", "-p", "camera_name:=front", "-p", "width:=160",
        "-p", "height:=120", "-p", "publish_compressed:=false", "-p", "autostart:=true",
    )  # fmt: skip
    arm.wait_for_output("trajectory_arm ready", timeout=30)
    node = ros_testbed.start_python(
        "policy", "lerobot_policy.nodes.policy_node", "--ros-args", "-p", f"policy_path:={policy}",
        "-p", f"profile:={profile}", "-p", "task:=reach the cube", "-p", "inference_steps:=3", "-p", "autostart:=true",
    )  # fmt: skip
    wait_until(lambda: len(arrivals) >= 16, timeout=90, what="16 trajectories")
    time.sleep(0.5)
    assert node.stop() == 0 and "Traceback" not in node.output, node.output[-3000:]
    got = [trajectory for _, trajectory in arrivals]
    # each is due at the next tick after it was sent: never later than one period after its arrival,
    # and most arrive before it is due (a loaded machine may hold a message back: once, 222 ms)
    leads = np.array([(time_to_ns(trajectory.header.stamp) - received) / 1e9 for received, trajectory in arrivals])
    assert (leads <= PERIOD + 0.01).all(), f"first points due up to {leads.max() * 1e3:.1f} ms after arrival"
    assert (leads > -0.01).mean() >= 0.75, f"first points due before arrival: {np.sort(leads)[:5] * 1e3} ms"
    seen = [(time_to_ns(s.header.stamp), np.array(s.position)) for s in states.snapshot()]
    stamps = np.array([t for t, _ in seen])
    positions = np.stack([p for _, p in seen])

    followed = 0
    max_step = 0.15 * 100 / 30  # the profile's default max_step_rad per 100 Hz cycle, per policy step
    for current, following in itertools.pairwise(got[2:]):  # the arm may still be discovering the first ones
        assert list(current.joint_names) == JOINTS and 1 <= len(current.points) <= 10
        points = np.array([p.positions for p in current.points])
        assert (np.abs(np.diff(points, axis=0)) <= max_step + 1e-9).all()
        assert points[:, 3].max() <= -0.07 + 1e-9  # joint4's limits in the profile: [-3.07, -0.07]
        # while this trajectory is the newest, the arm is where it says, at the time it says
        first_due, replaced = time_to_ns(current.header.stamp), time_to_ns(following.header.stamp)
        window = (stamps > first_due + PERIOD * 1e9) & (stamps < replaced - PERIOD * 1e9)
        window &= stamps <= first_due + duration_to_s(current.points[-1].time_from_start) * 1e9
        np.testing.assert_allclose(positions[window], played(current, stamps[window]), atol=1e-6)
        followed += int(window.sum())
    assert followed >= 50, f"only {followed} joint states fell inside the trajectories' windows"
    assert np.ptp(positions, axis=0).max() > 0.05, "the arm never moved"
    for process in (camera, arm):
        assert process.stop() == 0
