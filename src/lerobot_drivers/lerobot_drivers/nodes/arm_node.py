"""Arm driver as a lifecycle node.

configure = open the bus, check models and calibration; activate = seed goals from the
present position, then torque on; deactivate = torque off; cleanup/shutdown = close (torque
off where the profile says so, read back per servo). Publishes sensor_msgs/JointState in
radians and accepts position commands as JointState, Float64MultiArray (ros2_control forward
controller) or JointTrajectory. Silent servos, power dips and a lost port are handled by the
rclpy-free `ArmSupervisor`; this node logs what it says and publishes its state.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.timer import Timer
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, Header
from trajectory_msgs.msg import JointTrajectory

from lerobot_drivers.arm import Arm, ArmState, CommandError
from lerobot_drivers.errors import DriverError
from lerobot_drivers.nodes.parameters import ParameterRules, declare_parameters, number
from lerobot_drivers.nodes.run import ReleasingNode, logged_transition, spin_lifecycle
from lerobot_drivers.profile import load_profile
from lerobot_drivers.supervisor import ArmSupervisor, Event


class ArmNode(ReleasingNode):
    def __init__(self, node_name: str = "arm_driver") -> None:
        super().__init__(node_name)
        declare_parameters(
            self,
            {
                "profile": ("", "robot profile YAML (config/*.yaml); read at configure"),
                "port": ("", "serial port, overrides the profile's (a /dev/serial/by-id/ path survives re-plugging)"),
                "baudrate": (0, "bus baud rate, overrides the profile's (0: the profile's)"),
                "rate_hz": (0.0, "control and publish rate, Hz (0: the profile's); may change while active"),
                "write_calibration": (False, "write the calibration file's homing offsets to the servos"),
                "autostart": (False, "configure and activate at start-up; exit non-zero if that fails"),
            },
        )
        ParameterRules(
            self,
            numbers=("rate_hz", "baudrate"),
            at_configure=("profile", "port", "baudrate", "write_calibration"),
            is_configured=lambda: self.is_configured,
            live={"rate_hz": self._set_rate},
        )
        self.arm: Arm | None = None
        self.supervisor: ArmSupervisor | None = None
        self._timer: Timer | None = None
        self._diag_timer: Timer | None = None
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
            self.arm = Arm(
                profile, self.get_parameter("port").value or None, int(self.get_parameter("baudrate").value) or None
            )
            self.arm.connect(write_calibration=self.get_parameter("write_calibration").value)
        except DriverError as exc:
            self.get_logger().error(f"configure failed: {exc}")
            self.arm = None
            return TransitionCallbackReturn.FAILURE
        self.supervisor = ArmSupervisor(self.arm)
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
            f"configured {profile.robot_type} ({len(profile.joints)} joints) on {self.arm.bus.port_name} at "
            f"{self.arm.bus.baudrate} baud, firmware {next(iter(self.arm.firmware.values()))}"
        )
        return TransitionCallbackReturn.SUCCESS

    @logged_transition
    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        assert self.arm is not None and self.supervisor is not None
        try:
            self.supervisor.activate()
        except DriverError as exc:
            self.get_logger().error(f"activate failed, torque stays off: {exc}")
            return TransitionCallbackReturn.FAILURE
        self._timer = self.create_timer(1.0 / self._rate(), self._cycle)
        self._diag_timer = self.create_timer(1.0, self._publish_diagnostics)
        torque = "on" if self.arm.torque_on else "off (leader)"
        self.get_logger().info(f"active at {self._rate():.0f} Hz, torque {torque}")
        return super().on_activate(state)

    @logged_transition
    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_timers()
        if self.supervisor is not None:
            try:
                self.supervisor.deactivate()
            except DriverError as exc:
                self.get_logger().error(f"torque off failed: {exc}")
        return super().on_deactivate(state)

    def _rate(self) -> float:
        assert self.arm is not None
        return number(self, "rate_hz") or self.arm.profile.control.rate_hz

    def _set_rate(self, rate_hz: float) -> None:
        if self._timer is not None and self.arm is not None:
            rate = rate_hz or self.arm.profile.control.rate_hz
            self.destroy_timer(self._timer)
            self._timer = self.create_timer(1.0 / rate, self._cycle)
            self.get_logger().info(f"control rate now {rate:.0f} Hz")

    def _stop_timers(self) -> None:
        for timer in (self._timer, self._diag_timer):
            if timer is not None:
                self.destroy_timer(timer)
        self._timer = self._diag_timer = None

    def release(self) -> None:
        """Torque off (where the profile says so), read back, and say per servo what holds."""
        self._stop_timers()
        if self.arm is None:
            return
        try:
            report = self.arm.disconnect()
            torque = self.arm.profile.control.torque_off_on_shutdown
            self.get_logger().info(
                f"bus {self.arm.bus.port_name} closed"
                + (f", torque off on all {len(report)} servos (read back)" if torque else ", torque left as it was")
            )
        except DriverError as exc:
            self.get_logger().error(str(exc))
        self.arm = self.supervisor = None

    # --- commands ----------------------------------------------------------------------------------
    def _apply(self, apply: Callable[[Arm], None]) -> None:
        if self.arm is None or self.supervisor is None or not self.supervisor.commandable:
            return
        try:
            apply(self.arm)
        except CommandError as exc:
            self.get_logger().warning(str(exc), throttle_duration_sec=1.0)

    def _on_joint_state(self, msg: JointState) -> None:
        if len(msg.name) != len(msg.position):
            self.get_logger().warning("command JointState needs one position per name", throttle_duration_sec=1.0)
            return
        self._apply(lambda arm: arm.command(dict(zip(msg.name, msg.position, strict=True))))

    def _on_array(self, msg: Float64MultiArray) -> None:
        self._apply(lambda arm: arm.command_vector(list(msg.data)))

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        """Follow the point that is due now (header stamp 0 = on receipt)."""
        if not msg.points:
            return
        start = rclpy.time.Time.from_msg(msg.header.stamp).nanoseconds / 1e9 or time.time()
        elapsed = time.time() - start
        due = [p for p in msg.points if p.time_from_start.sec + p.time_from_start.nanosec / 1e9 <= elapsed]
        point = due[-1] if due else msg.points[0]
        self._apply(lambda arm: arm.command(dict(zip(msg.joint_names, point.positions, strict=True))))

    # --- the loop ------------------------------------------------------------------------------
    def _cycle(self) -> None:
        assert self.arm is not None and self.supervisor is not None
        state = self.supervisor.step()
        for event in self.supervisor.take_events():
            self._log(event)
        if state is None:
            return
        msg = JointState()
        msg.header.stamp = rclpy.time.Time(nanoseconds=int(state.stamp * 1e9)).to_msg()
        msg.name = self.arm.names
        msg.position = [state.positions[n] for n in self.arm.names]
        msg.velocity = [state.velocities[n] for n in self.arm.names]
        self._state_pub.publish(msg)
        self._published += 1
        self._on_state(state)

    def _log(self, event: Event) -> None:
        # one call site per severity: rclpy's logger refuses two severities from one line
        if event.level == "error":
            self.get_logger().error(event.message)
        elif event.level == "warn":
            self.get_logger().warning(event.message)
        else:
            self.get_logger().info(event.message)

    def _on_state(self, state: ArmState) -> None:
        """Hook for nodes built on this one (the leader publishes follower commands here)."""

    def _publish_diagnostics(self) -> None:
        assert self.arm is not None and self.supervisor is not None
        start, count = self._rate_window
        now = time.monotonic()
        self._loop_rate = (self._published - count) / (now - start)
        self._rate_window = (now, self._published)
        level, message = self.supervisor.status()
        values = {
            "state": self.supervisor.link.value,
            "loop_rate_hz": f"{self._loop_rate:.1f}",
            "failed_cycles": str(self.arm.failed_cycles),
            "recoveries": str(self.supervisor.recoveries),
            **{f"bus_errors/{k}": str(v) for k, v in self.arm.bus.errors.items()},
            **{
                f"{register}{_unit(self.arm, register)}/{name}": f"{value:g}"
                for register, by_joint in self.arm.health.items()
                for name, value in by_joint.items()
            },
        }
        status = DiagnosticStatus(
            level={"ok": DiagnosticStatus.OK, "warn": DiagnosticStatus.WARN, "error": DiagnosticStatus.ERROR}[level],
            name=f"{self.get_name()}: {self.arm.profile.robot_type} bus",
            message=message,
            hardware_id=self.arm.bus.port_name,
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        header = Header(stamp=self.get_clock().now().to_msg())
        self._diag_pub.publish(DiagnosticArray(header=header, status=[status]))


def _unit(arm: Arm, register: str) -> str:
    unit = arm.bus.motors[arm.names[0]].spec.units.get(register)
    return f" [{unit.si}]" if unit else ""


def main(args: list[str] | None = None) -> int:
    return spin_lifecycle(ArmNode, args)


if __name__ == "__main__":
    sys.exit(main())
