"""The arm's read-write cycle on the simulated bus with 1 Mbps wire timing, six servos.

For each protocol: runs Arm.cycle() (sync write of goals + sync read of positions and
velocities) at the target rate for a few seconds and reports the achieved rate, the p99
period jitter, and the cycle time against the wire-time floor measured from the same bytes.
Targets: 200 Hz Feetech, 100 Hz Dynamixel, p99 jitter < 2 ms, cycle <= 1.5 x wire + 0.5 ms.
Then, per protocol, the adapter is unplugged and plugged back a few times while the arm runs
under its supervisor: the time from the re-plug to a re-verified (models, firmware,
calibration), torqued arm, and the re-verification alone.
Last line: the worst cycle / (1.5 x wire + 0.5 ms) ratio (<= 1 meets the target).
"""

from __future__ import annotations

import itertools
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lerobot_drivers.arm import Arm
from lerobot_drivers.profile import load_profile
from lerobot_drivers.sim.cli import send_command
from lerobot_drivers.supervisor import REOPEN_EVERY_S, ArmSupervisor, Link

ROOT = Path(__file__).resolve().parents[1]
CASES = {"feetech": ("so101_follower_sim.yaml", 200.0), "dynamixel": ("koch_follower_sim.yaml", 100.0)}


def wire_bytes(protocol: str, servos: int) -> int:
    """Bytes on the line per cycle: goal sync write + one sync read of position and velocity."""
    if protocol == "feetech":
        write = 8 + servos * 3  # FF FF FE LEN 83 ADDR 2 CHK + (id, 2 bytes) per servo
        read = 8 + servos + servos * 10  # request + one status (6 + 4 data bytes) per servo
        return write + read
    write = 14 + servos * 5  # header(7) inst addr(2) len(2) crc(2) + (id, 4 bytes)
    read = 14 + servos + servos * 19  # request + one status (11 + 8 data bytes) per servo
    return write + read


def start_simulator(profile: Path, *extra: str) -> tuple[subprocess.Popen, str, str]:
    """The simulated servos in their own process, like real ones on their own hardware:
    (process, port, control socket)."""
    sim = subprocess.Popen(
        [sys.executable, "-m", "lerobot_drivers.sim.cli", "--profile", str(profile), "--emulate-wire", *extra],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    port, control = sim.stdout.readline(), sim.stdout.readline()
    if not port.startswith("port: ") or not control.startswith("control: "):
        sim.kill()
        raise SystemExit(f"simulator did not start: {port!r} {control!r}")
    return sim, port.split()[1], control.split()[1]


def run(protocol: str, seconds: float = 4.0) -> tuple[float, float, float, float]:
    profile_name, rate = CASES[protocol]
    profile = load_profile(ROOT / "config" / profile_name)
    sim, port, _ = start_simulator(ROOT / "config" / profile_name)
    try:
        arm = Arm(profile, port)
        arm.connect()
        arm.activate()
        arm.command({name: 0.1 for name in arm.names})
        period = 1.0 / rate
        starts, durations, failed = [], [], 0
        next_start = time.perf_counter()
        end = next_start + seconds
        while next_start < end:
            while time.perf_counter() < next_start:
                pass
            began = time.perf_counter()
            arm.last_command_time = time.monotonic()  # keep the command fresh: write every cycle
            failed += arm.cycle() is None
            starts.append(began)
            durations.append(time.perf_counter() - began)
            next_start += period
        arm.disconnect()
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(10)
    if failed:
        print(f"{protocol}: {failed} of {len(starts)} cycles failed on a fault-free bus")
    periods = [b - a for a, b in itertools.pairwise(starts)]
    achieved = (len(starts) - 1) / (starts[-1] - starts[0])
    jitter = sorted(abs(p - period) for p in periods)[int(0.99 * len(periods))]
    wire = wire_bytes(protocol, len(profile.joints)) * 10 / profile.bus.baudrate
    cycle = statistics.median(durations)
    return achieved, jitter, cycle, wire


def replug(protocol: str, rounds: int = 5) -> tuple[list[float], list[float]]:
    """Seconds from each re-plug to a re-verified, torqued arm; seconds of re-verification."""
    profile_name, rate = CASES[protocol]
    profile = load_profile(ROOT / "config" / profile_name)
    with tempfile.TemporaryDirectory() as folder:
        link = Path(folder) / "ttyUSB-arm"
        sim, port, control = start_simulator(ROOT / "config" / profile_name, "--link", str(link))
        try:
            supervisor = ArmSupervisor(Arm(profile, port))
            supervisor.arm.connect()
            supervisor.activate()
            recheck = []
            for _ in range(rounds):
                began = time.perf_counter()
                supervisor.arm.reconnect()
                supervisor.activate()
                recheck.append(time.perf_counter() - began)
            back = []
            for _ in range(rounds):
                send_command(control, {"unplug": 0})
                run_until(supervisor, lambda: supervisor.link is Link.PORT_LOST, rate)
                time.sleep(0.2)
                send_command(control, {"plug": True})
                plugged = time.perf_counter()
                run_until(supervisor, lambda: supervisor.link is Link.OK and supervisor.arm.torque_on, rate)
                back.append(time.perf_counter() - plugged)
            supervisor.arm.disconnect()
        finally:
            sim.send_signal(signal.SIGINT)
            sim.wait(15)
    return back, recheck


def run_until(supervisor: ArmSupervisor, done: Callable[[], bool], rate: float, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"the arm did not come back within {timeout} s: {supervisor.status()}")
        supervisor.step()
        supervisor.take_events()
        time.sleep(1.0 / rate)


def main() -> None:
    worst = 0.0
    for protocol, (_, rate) in CASES.items():
        achieved, jitter, cycle, wire = run(protocol)
        budget = 1.5 * wire + 0.0005
        worst = max(worst, cycle / budget)
        print(
            f"{protocol:9s} target {rate:.0f} Hz: achieved {achieved:6.1f} Hz, "
            f"p99 jitter {jitter * 1e3:.2f} ms, "
            f"cycle {cycle * 1e3:.2f} ms (median), wire floor {wire * 1e3:.2f} ms, "
            f"cycle/wire {cycle / wire:.2f}, cycle/(1.5 wire + 0.5 ms) {cycle / budget:.2f}"
        )
    for protocol in CASES:
        back, recheck = replug(protocol)
        print(
            f"{protocol:9s} re-plug to a re-verified, torqued arm: median {statistics.median(back) * 1e3:.0f} ms, "
            f"max {max(back) * 1e3:.0f} ms over {len(back)} re-plugs (the port is retried every "
            f"{REOPEN_EVERY_S} s); re-verification alone: median {statistics.median(recheck) * 1e3:.0f} ms"
        )
    print(f"worst cycle/(1.5 x wire + 0.5 ms): {worst:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
