"""Joint targets as the robot's command interface takes them (the profile's command_type).

joint_state: one JointState per tick, named joints (this suite's drivers). float64_array: one
Float64MultiArray per tick in the profile's joint order (ros2_control's
forward_command_controller). joint_trajectory: per merged chunk, one JointTrajectory holding
the steps still to execute as timed points, time_from_start counted from the header stamp,
which is when the first of them is due (joint_trajectory_controller interpolates between them).
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from lerobot_drivers.ros_time import ns_to_time, s_to_duration

MESSAGES = {"joint_state": JointState, "float64_array": Float64MultiArray, "joint_trajectory": JointTrajectory}
PER_CHUNK = ("joint_trajectory",)


def step_message(command_type: str, names: list[str], step: np.ndarray, stamp: Time) -> JointState | Float64MultiArray:
    """One tick's target."""
    if command_type == "float64_array":
        return Float64MultiArray(data=step.astype(float).tolist())
    msg = JointState(name=list(names), position=step.astype(float).tolist())
    msg.header.stamp = stamp
    return msg


def trajectory(names: list[str], steps: np.ndarray, first_due_ns: int, period_s: float) -> JointTrajectory:
    """The steps still to execute, the first due at `first_due_ns`, one every `period_s`."""
    msg = JointTrajectory(joint_names=list(names))
    msg.header.stamp = ns_to_time(first_due_ns)
    msg.points = [
        JointTrajectoryPoint(positions=row.astype(float).tolist(), time_from_start=s_to_duration(k * period_s))
        for k, row in enumerate(steps)
    ]
    return msg
