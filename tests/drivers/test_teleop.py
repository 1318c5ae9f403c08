"""Teleoperation: leader sim + leader node drive follower node + follower sim, four processes."""

import sys
from pathlib import Path

import pytest
from sensor_msgs.msg import JointState

from lerobot_drivers.calibration import MotorCalibration, NormMode, load_calibration, to_radians
from lerobot_drivers.profile import load_profile
from lerobot_drivers.sim.cli import send_command
from lerobot_drivers.teleop import TeleopMap
from ros_harness import wait_until

ROOT = Path(__file__).resolve().parents[2]
LEADER, FOLLOWER = ROOT / "config" / "so101_leader_sim.yaml", ROOT / "config" / "so101_follower_sim.yaml"


def teleop_map() -> TeleopMap:
    leader, follower = load_profile(LEADER), load_profile(FOLLOWER)
    return TeleopMap(leader, load_calibration(leader.calibration), follower, load_calibration(follower.calibration))


def test_mapping_keeps_the_fraction_of_the_range():
    mapping = teleop_map()
    leader_cal = load_calibration(load_profile(LEADER).calibration)
    follower_cal = load_calibration(load_profile(FOLLOWER).calibration)
    # leader shoulder_pan at 3/4 of its range -> follower at 3/4 of its own
    lead = leader_cal["shoulder_pan"]
    raw = lead.range_min + 0.75 * (lead.range_max - lead.range_min)
    positions = {name: 0.0 for name in mapping.names} | {"shoulder_pan": to_radians(raw, lead)}
    follow = follower_cal["shoulder_pan"]
    expected = to_radians(round(follow.range_min + 0.75 * (follow.range_max - follow.range_min)), follow)
    assert mapping.follower_targets(positions)["shoulder_pan"] == pytest.approx(expected, abs=2e-3)


def test_gripper_uses_0_100():
    lead, follow = MotorCalibration(6, 0, 0, 1000, 2000), MotorCalibration(6, 0, 0, 2000, 3000)
    assert NormMode.RANGE_0_100 in {j.norm_mode for j in load_profile(FOLLOWER).joints}
    mapping = teleop_map()
    mapping.leader_calibration = {**mapping.leader_calibration, "gripper": lead}
    mapping.follower_calibration = {**mapping.follower_calibration, "gripper": follow}
    positions = dict.fromkeys(mapping.names, 0.0) | {"gripper": to_radians(1000, lead)}  # fully closed
    assert mapping.follower_targets(positions)["gripper"] == pytest.approx(to_radians(2000, follow))


def start(testbed, name, module, *args):
    return testbed.start(name, [sys.executable, "-m", module, *args])


def test_follower_follows_the_leader(ros_testbed, ros_probe):
    leader_sim = start(ros_testbed, "leader_sim", "lerobot_drivers.sim.cli", "--profile", str(LEADER))
    follower_sim = start(ros_testbed, "follower_sim", "lerobot_drivers.sim.cli", "--profile", str(FOLLOWER))
    leader_port = leader_sim.wait_for_output(r"port: (\S+)").group(1)
    leader_control = leader_sim.wait_for_output(r"control: (\S+)").group(1)
    follower_port = follower_sim.wait_for_output(r"port: (\S+)").group(1)
    follower_states = ros_probe.collect(JointState, "/follower/joint_states")
    leader_states = ros_probe.collect(JointState, "/leader/joint_states")
    start(ros_testbed, "follower", "lerobot_drivers.nodes.arm_node", "--ros-args",
          "-p", f"profile:={FOLLOWER}", "-p", f"port:={follower_port}", "-p", "autostart:=true")  # fmt: skip
    leader = start(ros_testbed, "leader", "lerobot_drivers.nodes.leader_node", "--ros-args",
                   "-p", f"profile:={LEADER}", "-p", f"port:={leader_port}", "-p", "autostart:=true",
                   "-p", f"follower_profile:={FOLLOWER}")  # fmt: skip
    leader.wait_for_output("teleoperating so101_follower")
    assert all(v == 0 for v in send_command(leader_control, {})["torque"].values()), "leader torque must stay off"

    # a person moves the leader's shoulder_pan and elbow
    send_command(leader_control, {"move": {"1": 2700, "3": 1500}})
    leader_now = leader_states.wait_for(1, where=lambda m: abs(m.position[0]) > 0.3)[-1]
    expected = teleop_map().follower_targets(dict(zip(leader_now.name, leader_now.position, strict=True)))

    def follows() -> bool:
        received = follower_states.snapshot()
        if not received:
            return False
        last = received[-1]
        return all(abs(p - expected[n]) < 0.01 for n, p in zip(last.name, last.position, strict=True))

    wait_until(follows, 10, f"the follower to reach {expected}")
