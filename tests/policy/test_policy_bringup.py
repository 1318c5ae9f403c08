"""The policy scenarios started as a user starts them, on simulated arms: the policy drives the
follower; Ctrl-C stops everything with exit 0 and torque off."""

import pytest
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState

from lerobot_msgs.msg import PolicyStatus
from ros_harness import final_torques, interrupt, start_bringup

pytestmark = pytest.mark.slow


def test_policy_scenario_beside_a_sim_arm(ros_testbed, ros_probe, trained_policy):
    commands = ros_probe.collect(JointState, "/follower/joint_commands", qos_profile_sensor_data)
    status = ros_probe.collect(PolicyStatus, "/policy/status", 50)
    arm = start_bringup(ros_testbed, "sim_arm", "emulate_wire:=false")
    policy = start_bringup(ros_testbed, "policy", f"policy_path:={trained_policy}", "task:=pick the cube")
    status.wait_for(1, timeout=60, where=lambda m: m.state == PolicyStatus.STATE_RUNNING and m.task == "pick the cube")
    commands.wait_for(10, timeout=30)
    assert interrupt(policy) == 0, policy.output[-3000:]
    assert interrupt(arm) == 0, arm.output[-3000:]
    assert final_torques(arm.output) == [dict.fromkeys(map(str, range(1, 7)), 0)]


def test_simulation_driven_by_a_policy(ros_testbed, ros_probe, trained_policy):
    commands = ros_probe.collect(JointState, "/follower/joint_commands", qos_profile_sensor_data)
    bringup = start_bringup(ros_testbed, "simulation", f"policy_path:={trained_policy}", "task:=pick the cube")
    commands.wait_for(10, timeout=60)
    assert "leader" not in bringup.output, "the policy drives: no leader arm"
    assert interrupt(bringup, times=2) == 0, bringup.output[-3000:]
    assert final_torques(bringup.output) == [dict.fromkeys(map(str, range(1, 7)), 0)]
