"""Leader arm for teleoperation: the arm node on a leader profile (torque stays off) that
also publishes the follower's joint commands, mapped through both calibrations."""

from __future__ import annotations

import sys

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState

from lerobot_drivers.arm import ArmState
from lerobot_drivers.calibration import load_calibration
from lerobot_drivers.errors import DriverError
from lerobot_drivers.nodes.arm_node import ArmNode
from lerobot_drivers.nodes.run import logged_transition, spin_lifecycle
from lerobot_drivers.profile import load_profile
from lerobot_drivers.teleop import TeleopMap


class LeaderNode(ArmNode):
    def __init__(self) -> None:
        super().__init__("leader_arm")
        self.declare_parameter(
            "follower_profile", "", ParameterDescriptor(description="the follower's robot profile YAML")
        )
        self._map: TeleopMap | None = None

    @logged_transition
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_configure(state)
        if result != TransitionCallbackReturn.SUCCESS:
            return result
        assert self.arm is not None
        if not self.arm.profile.leader:
            self.get_logger().error(f"{self.arm.profile.source} is not a leader profile (leader: true)")
            self.release()
            return TransitionCallbackReturn.FAILURE
        try:
            follower = load_profile(self.get_parameter("follower_profile").value)
            self._map = TeleopMap(
                self.arm.profile, self.arm.calibration, follower, load_calibration(follower.calibration)
            )
        except DriverError as exc:
            self.get_logger().error(f"configure failed: {exc}")
            self.release()
            return TransitionCallbackReturn.FAILURE
        qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        self._command_pub = self.create_publisher(JointState, follower.topics.joint_commands, qos)
        self.get_logger().info(f"teleoperating {follower.robot_type} on {follower.topics.joint_commands}")
        return TransitionCallbackReturn.SUCCESS

    def _on_state(self, state: ArmState) -> None:
        assert self._map is not None
        targets = self._map.follower_targets(state.positions)
        msg = JointState(name=list(targets), position=list(targets.values()))
        msg.header.stamp = self.get_clock().now().to_msg()
        self._command_pub.publish(msg)


def main(args: list[str] | None = None) -> int:
    return spin_lifecycle(LeaderNode, args)


if __name__ == "__main__":
    sys.exit(main())
