"""The suite end to end on a simulated arm, saying plainly what ran.

1. `lerobot_sim_bus` starts a simulated SO-101 (six STS3215 servos speaking the Feetech
   protocol on a pty, with 1 Mbps wire timing).
2. `lerobot_arm_driver` (a lifecycle node, in its own process) connects through the real
   Feetech SDK, checks models and LeRobot calibration, torques on and publishes JointState.
3. This script, as a third process, commands a pose over /follower/joint_commands/array,
   waits until the arm is there, sends a NaN command (refused), then stops the driver with
   Ctrl-C and checks that torque went off.
All on a private DDS domain limited to this host.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "config" / "so101_follower_sim.yaml"
TARGET = [0.4, -0.3, 0.35, 0.2, -0.5, 0.15]


def wait_for_line(process: subprocess.Popen, log: Path, pattern: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if match := re.search(pattern, log.read_text()):
            return match.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"did not see /{pattern}/; output:\n{log.read_text()}")


def sim_command(control: str, command: dict) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(control)
        client.sendall((json.dumps(command) + "\n").encode())
        return json.loads(client.makefile().readline())


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="lerobot_demo_"))
    env = {
        **os.environ,
        "ROS_DOMAIN_ID": str(random.randint(1, 101)),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_LOG_DIR": str(workdir),
    }
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOG_DIR")})
    print(f"main job: simulated SO-101 end to end (domain {env['ROS_DOMAIN_ID']}, logs in {workdir})")
    started = time.monotonic()
    sim_log, node_log = workdir / "sim_bus.out", workdir / "arm_driver.out"
    sim = subprocess.Popen(
        [sys.executable, "-m", "lerobot_drivers.sim.cli", "--profile", str(PROFILE), "--emulate-wire"],
        stdout=sim_log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    node = None
    try:
        port = wait_for_line(sim, sim_log, r"port: (\S+)")
        control = wait_for_line(sim, sim_log, r"control: (\S+)")
        print(f"  1. simulated Feetech bus on {port}")
        node = subprocess.Popen(
            [sys.executable, "-m", "lerobot_drivers.nodes.arm_node", "--ros-args",
             "-p", f"profile:={PROFILE}", "-p", f"port:={port}", "-p", "autostart:=true"],
            stdout=node_log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
        wait_for_line(node, node_log, r"(active at \d+ Hz)")
        print("  2. arm driver configured (models + calibration checked) and active, torque on")
        result = drive(TARGET)
        print(
            f"  3. commanded pose {TARGET} rad: reached in {result['reach_s']:.2f} s, "
            f"max error {result['error']:.3f} rad; JointState at {result['rate']:.0f} Hz"
        )
        refused = "refused a command with non-finite values" in node_log.read_text()
        print(f"     NaN command refused: {'yes' if refused else 'NO'}")
        node.send_signal(signal.SIGINT)
        code = node.wait(15)
        torque = sim_command(control, {})["torque"]
        off = all(v == 0 for v in torque.values())
        print(f"  4. driver stopped with Ctrl-C (exit {code}); torque off on all servos: {'yes' if off else 'NO'}")
        ok = refused and off and code == 0 and result["error"] < 0.03
    finally:
        for process in (node, sim):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
                process.wait(10)
    print(f"main job {'passed' if ok else 'FAILED'} in {time.monotonic() - started:.1f} s")
    print("not yet part of the main job: cameras, teleop, recording to LeRobotDataset, the VLA policy")
    return 0 if ok else 1


def drive(target: list[float]) -> dict[str, float]:
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    rclpy.init()
    try:
        node = rclpy.create_node("demo_commander")
        states: list[JointState] = []
        node.create_subscription(JointState, "/follower/joint_states", states.append, 10)
        publisher = node.create_publisher(
            Float64MultiArray,
            "/follower/joint_commands/array",
            QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT),
        )
        deadline = time.monotonic() + 20
        while not states and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        start, first_count = time.monotonic(), len(states)
        error = float("inf")
        while time.monotonic() < deadline:
            publisher.publish(Float64MultiArray(data=target))
            rclpy.spin_once(node, timeout_sec=0.02)
            error = max(abs(p - t) for p, t in zip(states[-1].position, target, strict=True))
            if error < 0.02:
                break
        reach = time.monotonic() - start
        rate = (len(states) - first_count) / max(reach, 1e-3)
        publisher.publish(Float64MultiArray(data=[float("nan")] * len(target)))
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.02)
        node.destroy_node()
        return {"reach_s": reach, "error": error, "rate": rate}
    finally:
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
