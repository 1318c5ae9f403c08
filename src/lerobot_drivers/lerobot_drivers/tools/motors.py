"""`lerobot_motors`: find servos on a bus, and give new servos their ids and baud rate.

  lerobot_motors scan --port /dev/ttyACM0 --protocol feetech
  lerobot_motors setup --profile config/so101_follower.yaml [--joint gripper] [--yes]

Set-up goes one servo at a time (new servos all share id 1): connect only the named servo,
press Enter; it is found at any id and baud and given the profile's id and bus baud.
"""

from __future__ import annotations

import argparse
import sys

from lerobot_drivers.errors import DriverError, MotorMismatchError
from lerobot_drivers.motors.bus import Motor, MotorBus
from lerobot_drivers.motors.tables import MODELS, MODELS_BY_NUMBER
from lerobot_drivers.profile import load_profile


def scan(port: str, protocol: str, bauds: list[int] | None) -> dict[int, dict[int, int]]:
    """Servos answering at each baud rate, saying on stderr how far it got (a Dynamixel
    broadcast ping waits most of a second at every rate)."""
    any_model = next(name for name, spec in MODELS.items() if spec.protocol == protocol)
    found: dict[int, dict[int, int]] = {}
    with MotorBus(port, {"probe": Motor(1, any_model)}, protocol=protocol) as bus:
        bus.motors = {}  # nothing of ours to torque off
        for baud in bauds or list(MODELS[any_model].bauds):
            print(f"scanning {port} for {protocol} servos at {baud} baud ...", file=sys.stderr, flush=True)
            found.update(bus.scan([baud]))
    return found


def other_protocol_hint(port: str, protocol: str, bauds: list[int] | None) -> str:
    """When nothing answered: whether servos of another protocol did."""
    for other in sorted(set(MotorBus.BACKENDS) - {protocol}):
        if found := scan(port, other, bauds):
            where = "; ".join(f"ids {sorted(servos)} at {baud} baud" for baud, servos in found.items())
            return f"no {protocol} servo answered, but {other} servos did ({where}): use --protocol {other}"
    return f"no servo answered at any baud rate with either protocol on {port}: check the servos' power and cabling"


def setup(profile_path: str, port: str | None, joints: list[str] | None, confirm: bool) -> None:
    profile = load_profile(profile_path)
    names = joints or [j.name for j in reversed(profile.joints)]  # LeRobot's order: gripper first
    unknown = set(names) - set(profile.joint_names)
    if unknown:
        raise MotorMismatchError(f"no joints {sorted(unknown)} in {profile_path}; joints: {profile.joint_names}")
    config = profile.require_bus()
    bus = MotorBus(port or config.port, profile.motors(), protocol=config.protocol, baudrate=config.baudrate)
    bus.connect()
    try:
        for name in names:
            if confirm:
                input(f"Connect ONLY the '{name}' servo to the bus, then press Enter ")
            found = {(baud, i): number for baud, servos in bus.scan().items() for i, number in servos.items()}
            if len(found) != 1:
                raise MotorMismatchError(
                    f"setting up '{name}' needs exactly one servo on the bus, found {len(found)}: "
                    f"{ {f'id {i} at {b} baud': n for (b, i), n in found.items()} }"
                )
            (baud, servo_id), number = next(iter(found.items()))
            bus.setup_motor(name, current_id=servo_id, current_baud=baud)
            model = MODELS_BY_NUMBER.get(number)
            target = profile.motors()[name].id
            print(f"'{name}': {model.name if model else number} id {servo_id} -> {target}, "
                  f"{baud} -> {config.baudrate} baud")  # fmt: skip
    finally:
        bus.disconnect(disable_torque=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    scan_cmd = commands.add_parser("scan", help="list the servos answering at each baud rate")
    scan_cmd.add_argument("--port", required=True)
    scan_cmd.add_argument("--protocol", required=True, choices=sorted(MotorBus.BACKENDS))
    scan_cmd.add_argument("--baud", type=int, action="append", help="only these baud rates")
    setup_cmd = commands.add_parser("setup", help="give servos their profile ids and baud rate")
    setup_cmd.add_argument("--profile", required=True)
    setup_cmd.add_argument("--port")
    setup_cmd.add_argument("--joint", action="append", help="only these joints (default: all, gripper first)")
    setup_cmd.add_argument("--yes", action="store_true", help="do not wait for Enter before each servo")
    args = parser.parse_args(argv)
    try:
        if args.command == "scan":
            found = scan(args.port, args.protocol, args.baud)
            for baud, servos in found.items():
                for servo_id, number in sorted(servos.items()):
                    model = MODELS_BY_NUMBER.get(number)
                    print(f"{baud:>8} baud  id {servo_id:3d}  {model.name if model else f'model {number}'}")
            if not found:
                print(other_protocol_hint(args.port, args.protocol, args.baud), file=sys.stderr)
                return 1
        else:
            setup(args.profile, args.port, args.joint, not args.yes)
    except (DriverError, EOFError) as exc:
        print(f"{args.command} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
