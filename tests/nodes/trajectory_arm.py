"""Test node: a stand-in for an arm under ros2_control's joint_trajectory_controller.

Takes trajectory_msgs/JointTrajectory on <controller>/joint_trajectory and plays it as the
controller does: from where the joints are when it arrives, linearly through the points due
after that (header stamp + time_from_start; a zero stamp means now), holding the last; a new
trajectory replaces what is left of the old one. Publishes /joint_states at --rate Hz, each
stamped with the time its positions belong to. Joints are named as another arm's (7 of them).
"""

from __future__ import annotations

import argparse

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from lerobot_drivers.ros_time import duration_to_s, time_to_ns

JOINTS = [f"joint{i}" for i in range(1, 8)]


class TrajectoryArm(Node):
    def __init__(self, controller: str, rate_hz: float) -> None:
        super().__init__("trajectory_arm")
        self.knots = [(0, np.zeros(len(JOINTS)))]  # (due ns, positions)
        self.states = self.create_publisher(JointState, "/joint_states", qos_profile_sensor_data)
        self.create_subscription(JointTrajectory, f"{controller}/joint_trajectory", self._on_trajectory, 10)
        self.create_timer(1.0 / rate_hz, self._publish)

    def position(self, t_ns: int) -> np.ndarray:
        times = np.array([t for t, _ in self.knots], dtype=np.float64)
        values = np.stack([v for _, v in self.knots])
        return np.array([np.interp(t_ns, times, values[:, j]) for j in range(len(JOINTS))])

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        if sorted(msg.joint_names) != sorted(JOINTS):
            self.get_logger().error(f"trajectory for joints {list(msg.joint_names)}: this arm has {JOINTS}")
            return
        order = [list(msg.joint_names).index(name) for name in JOINTS]
        now = self.get_clock().now().nanoseconds
        start = time_to_ns(msg.header.stamp) or now
        knots = [(now, self.position(now))]
        for point in msg.points:
            due = start + round(duration_to_s(point.time_from_start) * 1e9)
            if due > now:
                knots.append((due, np.asarray(point.positions)[order]))
        self.knots = knots

    def _publish(self) -> None:
        now = self.get_clock().now()
        msg = JointState(name=JOINTS, position=self.position(now.nanoseconds).tolist())
        msg.header.stamp = now.to_msg()
        self.states.publish(msg)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--controller", default="arm_controller")
    parser.add_argument("--rate", type=float, default=100.0)
    args = parser.parse_args()
    from spin import spin_until_stopped  # run as a script: tests/nodes is on sys.path

    spin_until_stopped(lambda: TrajectoryArm(args.controller, args.rate), "trajectory_arm ready")


if __name__ == "__main__":
    main()
