"""Arm driver as a lifecycle node.

configure = open the bus, check models and calibration; activate = seed goals from the
present position, then torque on; deactivate = torque off; cleanup/shutdown = close (torque
off where the profile says so). Publishes sensor_msgs/JointState in radians and accepts
position commands as JointState, Float64MultiArray (ros2_control forward controller) or
JointTrajectory.
"""

from __future__ import annotations

import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, Header
from trajectory_msgs.msg import JointTrajectory

from lerobot_drivers.arm import Arm, ArmState, CommandError
from lerobot_drivers.errors import DriverError
from lerobot_drivers.nodes.run import ReleasingNode, logged_transition, spin_lifecycle
from lerobot_drivers.profile import load_profile

FAULT_AFTER_FAILED_CYCLES = 3


class ArmNode(ReleasingNode):
    def __init__(self, node_name: str = "arm_driver") -> None:
        super().__init__(node_name)
        describe = lambda text: ParameterDescriptor(description=text)  # noqa: E731
        self.declare_parameter("profile", "", describe("robot profile YAML (config/*.yaml)"))
        self.declare_parameter("port", "", describe("serial port; overrides the profile's (e.g. the simulator's pty)"))
        self.declare_parameter("rate_hz", 0.0, describe("control and publish rate; 0 = the profile's"))
        self.declare_parameter("write_calibration", False, describe("write the calibration file to the servos"))
        self.declare_parameter("autostart", False, describe("configure and activate at start-up"))
        self.arm: Arm | None = None
        self._timer = None
        self._diag_timer = None
        self._failed_in_a_row = 0
        self._silent: list[str] = []
        self._published = 0
        self._rate_window = (time.monotonic(), 0)
        self._loop_rate = 0.0

    @property
    def is_configured(self) -> bool:
        return self.arm is not None

    # --- transitions -----------------------------------------------------------------------------
    @logged_transition
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            profile = load_profile(self.get_parameter("profile").value)
            self.arm = Arm(profile, self.get_parameter("port").value or None)
            self.arm.connect(write_calibration=self.get_parameter("write_calibration").value)
        except DriverError as exc:
            self.get_logger().error(f"configure failed: {exc}")
            self.arm = None
            return TransitionCallbackReturn.FAILURE
        topics = profile.topics
        # Reliable publisher: matches both reliable (robot_state_publisher, rviz) and
        # best-effort subscribers. Commands: latest wins, so best effort with depth 1.
        self._state_pub = self.create_publisher(JointState, topics.joint_states, 10)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        command_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        if not profile.leader:
            self._subs = [
                self.create_subscription(JointState, topics.joint_commands, self._on_joint_state, command_qos),
                self.create_subscription(
                    Float64MultiArray, f"{topics.joint_commands}/array", self._on_array, command_qos
                ),
                self.create_subscription(
                    JointTrajectory,
                    f"{topics.joint_commands}/trajectory",
                    self._on_trajectory,
                    qos_profile_sensor_data,
                ),
            ]
        self.get_logger().info(
            f"configured {profile.robot_type} ({len(profile.joints)} joints) on {self.arm.bus.port_name}, "
            f"firmware {next(iter(self.arm.firmware.values()))}"
        )
        return TransitionCallbackReturn.SUCCESS

    @logged_transition
    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        assert self.arm is not None
        try:
            self.arm.activate()
        except DriverError as exc:
            self.get_logger().error(f"activate failed, torque stays off: {exc}")
            return TransitionCallbackReturn.FAILURE
        rate = self.get_parameter("rate_hz").value or self.arm.profile.control.rate_hz
        self._timer = self.create_timer(1.0 / rate, self._cycle)
        self._diag_timer = self.create_timer(1.0, self._publish_diagnostics)
        self.get_logger().info(f"active at {rate:.0f} Hz, torque {'on' if self.arm.torque_on else 'off (leader)'}")
        return super().on_activate(state)

    @logged_transition
    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_timers()
        if self.arm is not None:
            try:
                self.arm.deactivate()
            except DriverError as exc:
                self.get_logger().error(f"torque off failed: {exc}")
        return super().on_deactivate(state)

    def _stop_timers(self) -> None:
        for timer in (self._timer, self._diag_timer):
            if timer is not None:
                self.destroy_timer(timer)
        self._timer = self._diag_timer = None

    def release(self) -> None:
        self._stop_timers()
        if self.arm is not None:
            try:
                self.arm.disconnect()
                self.get_logger().info(
                    "bus closed" + (", torque off" if self.arm.profile.control.torque_off_on_shutdown else "")
                )
            except DriverError as exc:
                self.get_logger().error(str(exc))
            self.arm = None

    # --- commands ----------------------------------------------------------------------------------
    def _apply(self, apply: callable) -> None:  # type: ignore[valid-type]
        if self.arm is None or not self.arm.torque_on or self._silent:
            return
        try:
            apply()
        except CommandError as exc:
            self.get_logger().warning(str(exc), throttle_duration_sec=1.0)

    def _on_joint_state(self, msg: JointState) -> None:
        if len(msg.name) != len(msg.position):
            self.get_logger().warning("command JointState needs one position per name", throttle_duration_sec=1.0)
            return
        self._apply(lambda: self.arm.command(dict(zip(msg.name, msg.position, strict=True))))

    def _on_array(self, msg: Float64MultiArray) -> None:
        self._apply(lambda: self.arm.command_vector(list(msg.data)))

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        """Follow the point that is due now (header stamp 0 = on receipt)."""
        if not msg.points:
            return
        start = rclpy.time.Time.from_msg(msg.header.stamp).nanoseconds / 1e9 or time.time()
        elapsed = time.time() - start
        due = [p for p in msg.points if p.time_from_start.sec + p.time_from_start.nanosec / 1e9 <= elapsed]
        point = due[-1] if due else msg.points[0]
        self._apply(lambda: self.arm.command(dict(zip(msg.joint_names, point.positions, strict=True))))

    # --- the loop ------------------------------------------------------------------------------
    def _cycle(self) -> None:
        assert self.arm is not None
        state = self.arm.cycle()
        if state is None:
            self._failed_in_a_row += 1
            if self._failed_in_a_row == FAULT_AFTER_FAILED_CYCLES:
                self.arm.target = dict(self.arm.goal)  # hold: act on nothing until the bus is back
                self._silent = [n for n, m in self.arm.bus.motors.items() if self.arm.bus.ping(m.id) is None]
                self.get_logger().error(f"bus fault: holding position; not answering: {self._silent or 'none'}")
            return
        if self._silent:
            self.get_logger().info(f"bus recovered ({self._silent} answer again)")
            self._silent = []
        self._failed_in_a_row = 0
        msg = JointState()
        msg.header.stamp = rclpy.time.Time(nanoseconds=int(state.stamp * 1e9)).to_msg()
        msg.name = self.arm.names
        msg.position = [state.positions[n] for n in self.arm.names]
        msg.velocity = [state.velocities[n] for n in self.arm.names]
        self._state_pub.publish(msg)
        self._published += 1
        self._on_state(state)

    def _on_state(self, state: ArmState) -> None:
        """Hook for nodes built on this one (the leader publishes follower commands here)."""

    def _publish_diagnostics(self) -> None:
        assert self.arm is not None
        start, count = self._rate_window
        now = time.monotonic()
        self._loop_rate = (self._published - count) / (now - start)
        self._rate_window = (now, self._published)
        level, message = DiagnosticStatus.OK, "ok"
        if self._silent:
            level, message = DiagnosticStatus.ERROR, f"not answering: {', '.join(self._silent)}; holding"
        elif faulted := self._servo_faults():
            level, message = DiagnosticStatus.ERROR, f"servo hardware error: {faulted}"
        elif self._failed_in_a_row:
            level, message = DiagnosticStatus.WARN, "bus errors"
        values = {
            "loop_rate_hz": f"{self._loop_rate:.1f}",
            "failed_cycles": str(self.arm.failed_cycles),
            **{f"bus_errors/{k}": str(v) for k, v in self.arm.bus.errors.items()},
            **{f"{reg}/{name}": str(v) for reg, by_joint in self.arm.health.items() for name, v in by_joint.items()},
        }
        status = DiagnosticStatus(
            level=level,
            name=f"{self.get_name()}: {self.arm.profile.robot_type} bus",
            message=message,
            hardware_id=self.arm.bus.port_name,
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        header = Header(stamp=self.get_clock().now().to_msg())
        self._diag_pub.publish(DiagnosticArray(header=header, status=[status]))

    def _servo_faults(self) -> dict[str, int]:
        """Joints whose error register (Feetech Status, Dynamixel Hardware_Error_Status) is set."""
        assert self.arm is not None
        register = "Status" if self.arm.bus.protocol == "feetech" else "Hardware_Error_Status"
        return {name: value for name, value in self.arm.health.get(register, {}).items() if value}


def main(args: list[str] | None = None) -> None:
    spin_lifecycle(ArmNode, args)


if __name__ == "__main__":
    main()
