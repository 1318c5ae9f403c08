"""An arm on a servo bus, in radians, with the safety rules every command passes through.

No rclpy here: the lifecycle node maps its transitions onto connect / activate / deactivate /
disconnect, and its timer onto `cycle()`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from lerobot_drivers.calibration import (
    MotorCalibration,
    from_radians,
    load_calibration,
    radian_limits,
    to_radians,
)
from lerobot_drivers.errors import BusError, CalibrationError, DriverError
from lerobot_drivers.motors.bus import MotorBus
from lerobot_drivers.motors.tables import STATE_REGISTERS
from lerobot_drivers.profile import RobotProfile

CHECK_RETRIES = 5  # per transaction of the checks at connect and after a recovery
# Read round-robin, one register per slot, so a health read never costs more than one extra
# transaction in a cycle. Each is read where the model has a unit for it.
PHYSICAL_HEALTH = ("Present_Load", "Present_Current", "Present_Voltage", "Present_Input_Voltage", "Present_Temperature")


class CommandError(DriverError):
    """A command was refused (NaN/Inf, unknown joints, wrong length)."""


@dataclass(frozen=True)
class ArmState:
    stamp: float  # time.time() when the read finished
    positions: dict[str, float]  # rad
    velocities: dict[str, float]  # rad/s


class Arm:
    def __init__(self, profile: RobotProfile, port: str | None = None, baudrate: int | None = None) -> None:
        self.profile = profile
        self.names = profile.joint_names
        config = profile.require_bus()
        self.bus = MotorBus(
            port or config.port,
            profile.motors(),
            protocol=config.protocol,
            baudrate=baudrate or config.baudrate,
            latency_timer_ms=config.latency_timer_ms,
        )
        self.calibration: dict[str, MotorCalibration] = {}
        self.limits: dict[str, tuple[float, float]] = {}
        self.goal: dict[str, float] = {}  # rad: what the servos are told now
        self.target: dict[str, float] = {}  # rad: where the last command wants them
        self.last_command_time = -math.inf
        self.torque_on = False
        self.health: dict[str, dict[str, float]] = {}  # register -> joint -> SI value (raw for flags)
        self.cycles = 0
        self.failed_cycles = 0
        self.last_error: BusError | None = None
        self.firmware: dict[str, str] = {}
        spec = self.bus.motors[self.names[0]].spec
        self.health_registers = [r for r in PHYSICAL_HEALTH if r in spec.units]
        self.health_registers += [self.bus.backend.alarm_register, "Torque_Enable"]

    # --- life cycle ----------------------------------------------------------------------------
    def connect(self, write_calibration: bool = False) -> None:
        """Open the bus, check every servo's model, load and check the calibration."""
        self.calibration = load_calibration(self.profile.calibration)
        missing = [n for n in self.names if n not in self.calibration]
        if missing:
            raise CalibrationError(f"{self.profile.calibration} has no entry for {missing}: calibrate those joints")
        self.bus.connect()
        try:
            self.recheck(write_calibration)
        except DriverError:
            self.bus.disconnect(disable_torque=False)
            raise
        self.limits = {n: radian_limits(self.calibration[n]) for n in self.names}
        motors = self.bus.motors
        self._rad_s_per_count = {
            n: motors[n].spec.to_si("Present_Velocity", 1) * (-1 if self.calibration[n].drive_mode else 1)
            for n in self.names
        }

    def recheck(self, write_calibration: bool = False) -> None:
        """Every servo answers as the profile's model, one firmware per model, the servos hold
        the calibration, the profile's register values are set: at connect, and again after
        the port or the power came back (the servos may have been swapped or reset meanwhile)."""
        self.bus.verify()
        with self.bus.patience(CHECK_RETRIES):
            self.firmware = self.bus.verify_firmware()
            self._check_calibration(write_calibration)
            self._apply_servo_setup()

    def reconnect(self) -> None:
        """Open the same port again after it was lost, and re-check everything; torque stays
        as the servos have it (`activate` to torque on with goals seeded from where they are)."""
        self.torque_on = False
        self.bus.reopen()
        self.recheck()

    def _check_calibration(self, write: bool) -> None:
        """The servos must hold the homing offsets of the file, or positions mean nothing."""
        wrong = self._calibration_mismatch()
        if wrong:  # a mismatch must hold on a second, fresh read before it stops the arm
            time.sleep(0.05)
            wrong = self._calibration_mismatch()
        if not wrong:
            return
        if not write:
            detail = ", ".join(f"{n}: servo {got}, file {want}" for n, (got, want) in wrong.items())
            raise CalibrationError(
                f"the servos do not hold the calibration in {self.profile.calibration} ({detail}). "
                "Write it to them (parameter write_calibration:=true) or re-calibrate the arm"
            )
        with self.bus.eeprom_writes(list(wrong)):
            for name in wrong:
                self.bus.write("Homing_Offset", name, self.calibration[name].homing_offset)

    def _calibration_mismatch(self) -> dict[str, tuple[int, int]]:
        offsets = self.bus.sync_read("Homing_Offset")
        return {
            n: (offsets[n], self.calibration[n].homing_offset)
            for n in self.names
            if offsets[n] != self.calibration[n].homing_offset or self.calibration[n].id != self.bus.motors[n].id
        }

    def _apply_servo_setup(self) -> None:
        """The profile's register values (LeRobot's on-connect settings), written only where
        they differ, so EEPROM is not rewritten at every start."""
        wanted: dict[str, dict[str, int]] = {}  # register -> joint -> value
        for name, registers in self.profile.setup_values().items():
            for register, value in registers.items():
                wanted.setdefault(register, {})[name] = value
        changes = []
        for register, values in wanted.items():  # one transaction per register
            present = self.bus.sync_read(register, list(values))
            changes += [(name, register, value) for name, value in values.items() if present[name] != value]
        if not changes:
            return
        with self.bus.eeprom_writes(sorted({name for name, _, _ in changes})):
            for name, register, value in changes:
                self.bus.write(register, name, value)

    def activate(self) -> ArmState:
        """Seed the goals with where the joints are, then torque on: nothing jumps."""
        with self.bus.patience(CHECK_RETRIES):
            state = self.read_state()
            self.goal = dict(state.positions)
            self.target = dict(state.positions)
            self._write_goal()
            if not self.profile.leader:
                self.bus.set_torque(True)
                self.torque_on = True
        return state

    def deactivate(self) -> None:
        self.torque_on = False
        self.bus.set_torque(False, retries=5)

    def disconnect(self) -> dict[str, bool | None]:
        """Close the bus, torque off first where the profile says so; per joint, whether torque
        is still on (None: unknown). Raises BusError naming any joint not confirmed off."""
        self.torque_on = False
        return self.bus.disconnect(disable_torque=self.profile.control.torque_off_on_shutdown)

    # --- commands ------------------------------------------------------------------------------
    def command(self, positions: Mapping[str, float], now: float | None = None) -> None:
        """Accept new joint targets (rad). Refused whole if any value is not finite."""
        unknown = set(positions) - set(self.names)
        if unknown:
            raise CommandError(f"unknown joints {sorted(unknown)}; this arm has {self.names}")
        bad = {n: v for n, v in positions.items() if not math.isfinite(v)}
        if bad:
            raise CommandError(f"refused a command with non-finite values {bad}: nothing was applied")
        for name, value in positions.items():
            low, high = self.limits[name]
            self.target[name] = min(high, max(low, float(value)))
        self.last_command_time = time.monotonic() if now is None else now

    def command_vector(self, values: list[float], now: float | None = None) -> None:
        if len(values) != len(self.names):
            raise CommandError(f"expected {len(self.names)} values in joint order {self.names}, got {len(values)}")
        self.command(dict(zip(self.names, values, strict=True)), now)

    def command_is_stale(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return now - self.last_command_time > self.profile.control.command_timeout_s

    # --- the control cycle ---------------------------------------------------------------------
    def read_state(self) -> ArmState:
        raw = self.bus.sync_read_span(STATE_REGISTERS)
        raw_positions, raw_velocities = raw["Present_Position"], raw["Present_Velocity"]
        return ArmState(
            stamp=time.time(),
            positions={n: to_radians(raw_positions[n], self.calibration[n]) for n in self.names},
            velocities={n: raw_velocities[n] * self._rad_s_per_count[n] for n in self.names},
        )

    def _write_goal(self) -> None:
        self.bus.sync_write("Goal_Position", {n: from_radians(self.goal[n], self.calibration[n]) for n in self.names})

    def cycle(self, now: float | None = None) -> ArmState | None:
        """Move the goals toward the target (bounded per cycle), write them, read the state.

        A stale command holds the joints where their goals are; a failed bus transaction
        returns None (counted) so the caller skips this cycle instead of publishing old data.
        """
        self.cycles += 1
        try:
            if self.torque_on and not self.command_is_stale(now):
                max_step = self.profile.control.max_step_rad
                for name in self.names:
                    delta = self.target[name] - self.goal[name]
                    self.goal[name] += max(-max_step, min(max_step, delta))
                self._write_goal()
            state = self.read_state()
            self._read_health()
            self.last_error = None
            return state
        except BusError as exc:
            self.failed_cycles += 1
            self.last_error = exc
            return None

    def _read_health(self) -> None:
        """One health register per slot, in turn: each is refreshed every health_every_n_cycles."""
        slot = max(1, self.profile.control.health_every_n_cycles // len(self.health_registers))
        if self.cycles % slot:
            return
        register = self.health_registers[(self.cycles // slot) % len(self.health_registers)]
        raw = self.bus.sync_read(register)
        motors = self.bus.motors
        self.health[register] = {
            n: motors[n].spec.to_si(register, v) if register in motors[n].spec.units else v for n, v in raw.items()
        }

    def alarms(self) -> dict[str, str]:
        """Joints whose servo reports a hardware alarm, with what it says."""
        values = self.health.get(self.bus.backend.alarm_register, {})
        return {n: self.bus.backend.describe_alarms(int(v)) for n, v in values.items() if v}
