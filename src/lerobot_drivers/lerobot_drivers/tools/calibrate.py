"""`lerobot_calibrate`: calibrate a new arm the way LeRobot does, into LeRobot's file.

1. torque off and EEPROM unlocked (Feetech's Lock register, as LeRobot does: offsets written
   while it is set are lost at the next power-off), the homing offsets and position limits
   reset;
2. the arm is put in the middle of its range by hand: offsets are set so each joint reads
   2047 there (Feetech: offset = position - 2047, Dynamixel: offset = 2047 - position);
3. every joint is moved through its whole range while min and max are recorded and written
   as the servos' position limits; joints marked `full_turn` get 0..4095;
4. EEPROM locked again; the file is written where the profile says (LeRobot's calibration
   folder by default).
"""

from __future__ import annotations

import argparse
import select
import sys
from collections.abc import Callable

from lerobot_drivers.calibration import MotorCalibration, save_calibration
from lerobot_drivers.errors import CalibrationError, DriverError
from lerobot_drivers.motors.bus import MotorBus
from lerobot_drivers.profile import RobotProfile, load_profile

HALF_TURN = 2047
FULL_RANGE = (0, 4095)


def half_turn_offsets(bus: MotorBus, profile: RobotProfile) -> dict[str, int]:
    """Zero the offsets, read where the joints are, and return the offsets that centre them."""
    for joint in profile.joints:
        bus.write("Homing_Offset", joint.name, 0)
        bus.write("Min_Position_Limit", joint.name, FULL_RANGE[0])
        bus.write("Max_Position_Limit", joint.name, FULL_RANGE[1])
    positions = bus.sync_read("Present_Position")
    return {name: bus.backend.homing_sign * (position - HALF_TURN) for name, position in positions.items()}


def record_ranges(bus: MotorBus, profile: RobotProfile, done: Callable[[], bool]) -> dict[str, tuple[int, int]]:
    moving = [j.name for j in profile.joints if not j.full_turn]
    first = bus.sync_read("Present_Position", moving)
    lows, highs = dict(first), dict(first)
    while not done():
        for name, position in bus.sync_read("Present_Position", moving).items():
            lows[name], highs[name] = min(lows[name], position), max(highs[name], position)
    still = [name for name in moving if lows[name] == highs[name]]
    if still:
        raise CalibrationError(f"joints {still} did not move during range recording: move each through its range")
    ranges = {name: (lows[name], highs[name]) for name in moving}
    ranges.update({j.name: FULL_RANGE for j in profile.joints if j.full_turn})
    return ranges


def calibrate(
    bus: MotorBus, profile: RobotProfile, middle_reached: Callable[[], None], range_done: Callable[[], bool]
) -> dict[str, MotorCalibration]:
    """The whole procedure; `middle_reached` returns once the arm is in its middle pose."""
    with bus.eeprom_writes():
        middle_reached()
        offsets = half_turn_offsets(bus, profile)
        for name, offset in offsets.items():
            bus.write("Homing_Offset", name, offset)
        ranges = record_ranges(bus, profile, range_done)
        for name, (low, high) in ranges.items():
            bus.write("Min_Position_Limit", name, low)
            bus.write("Max_Position_Limit", name, high)
    return {j.name: MotorCalibration(j.id, 0, offsets[j.name], *ranges[j.name]) for j in profile.joints}


def enter_pressed() -> bool:
    ready, _, _ = select.select([sys.stdin], [], [], 0.05)
    if ready and not sys.stdin.readline():
        raise EOFError("input closed during range recording")
    return bool(ready)


def wait_for_middle(profile: RobotProfile) -> Callable[[], None]:
    def wait() -> None:
        print(f"Move the {profile.robot_type} to the MIDDLE of its range, then press Enter", flush=True)
        if not sys.stdin.readline():
            raise EOFError("input closed before the middle pose was confirmed")
        print("Now move EVERY joint through its whole range; press Enter when done", flush=True)

    return wait


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Calibrate an arm into LeRobot's calibration file.")
    parser.add_argument("--profile", required=True, help="robot profile YAML")
    parser.add_argument("--port", help="serial port (overrides the profile's)")
    args = parser.parse_args(argv)
    try:
        profile = load_profile(args.profile)
        config = profile.require_bus()
        bus = MotorBus(
            args.port or config.port, profile.motors(), protocol=config.protocol,
            baudrate=config.baudrate, latency_timer_ms=config.latency_timer_ms,
        )  # fmt: skip
        with bus:
            bus.verify()
            calibration = calibrate(bus, profile, wait_for_middle(profile), enter_pressed)
        save_calibration(calibration, profile.calibration)
    except (DriverError, EOFError) as exc:
        print(f"calibration failed: {exc}", file=sys.stderr)
        return 1
    print(f"calibration saved to {profile.calibration}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
