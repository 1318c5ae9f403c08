"""The suite end to end on simulated hardware, saying plainly what ran.

Processes on a private DDS domain (limited to this host):
  simulated SO-101 follower bus + arm driver (Feetech SDK, LeRobot calibration, torque on)
  simulated SO-101 leader bus (moved "by hand") + leader node: teleoperation of the follower
  two cameras (synthetic: front as jpeg CompressedImage, wrist as raw Image)
  the live recorder: two episodes recorded through its services, one mcap bag each
Then the bags are converted into a LeRobotDataset v3, validated, and read back.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config"
FOLLOWER, LEADER = CONFIG / "so101_follower_sim.yaml", CONFIG / "so101_leader_sim.yaml"
OUTPUT = ROOT / "demo_output"
TASKS = ["pick up the cube", "put the cube in the bowl"]


class Processes:
    """Every process of the demo, in its own process group, stopped on the way out."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env, self.running = workdir, env, {}

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.workdir / f"{name}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", *args], stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        self.running[name] = process
        return process

    def wait_for(self, name: str, pattern: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        log = self.workdir / f"{name}.log"
        while time.monotonic() < deadline:
            if match := re.search(pattern, log.read_text()):
                return match.group(1) if match.groups() else match.group(0)
            if self.running[name].poll() is not None:
                break
            time.sleep(0.05)
        code = self.running[name].poll()
        raise SystemExit(f"{name} did not print /{pattern}/ (exit code {code}); its log:\n{log.read_text()[-3000:]}")

    def stop(self, name: str) -> int:
        process = self.running.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                return process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                return process.wait()
        return process.returncode

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            self.stop(name)


def bring_up(procs: Processes) -> str:
    """Simulated arms, drivers, teleop and cameras; returns the follower's control socket."""
    procs.start("follower_bus", "lerobot_drivers.sim.cli", "--profile", str(FOLLOWER), "--emulate-wire")
    procs.start("leader_bus", "lerobot_drivers.sim.cli", "--profile", str(LEADER), "--hand-motion")
    follower_port = procs.wait_for("follower_bus", r"port: (\S+)")
    follower_control = procs.wait_for("follower_bus", r"control: (\S+)")
    leader_port = procs.wait_for("leader_bus", r"port: (\S+)")
    procs.start(
        "follower",
        "lerobot_drivers.nodes.arm_node",
        "--ros-args",
        "-p",
        f"profile:={FOLLOWER}",
        "-p",
        f"port:={follower_port}",
        "-p",
        "autostart:=true",
    )
    procs.start(
        "leader",
        "lerobot_drivers.nodes.leader_node",
        "--ros-args",
        "-p",
        f"profile:={LEADER}",
        "-p",
        f"port:={leader_port}",
        "-p",
        f"follower_profile:={FOLLOWER}",
        "-p",
        "autostart:=true",
    )
    for name, compressed in (("front", "true"), ("wrist", "false")):
        procs.start(
            f"camera_{name}",
            "lerobot_drivers.nodes.camera_node",
            "--ros-args",
            "-r",
            f"__node:=camera_{name}",
            "-p",
            f"camera_name:={name}",
            "-p",
            "width:=320",
            "-p",
            "height:=240",
            "-p",
            "autostart:=true",
            "-p",
            f"publish_compressed:={compressed}",
        )
    procs.wait_for("follower", r"(active at \d+ Hz)")
    procs.wait_for("leader", r"(teleoperating \S+)")
    print("  1. simulated SO-101 follower (1 Mbps wire timing) and leader buses; follower driver active, torque on;")
    print("     leader torque off, moved by hand, teleoperating the follower; cameras front (jpeg) and wrist (raw)")
    return follower_control


def record(procs: Processes, bags: Path) -> list[Path]:
    import rclpy

    from lerobot_msgs.srv import StartEpisode, StopEpisode

    procs.start(
        "recorder",
        "lerobot_recorder.nodes.recorder_node",
        "--ros-args",
        "-p",
        f"profile:={FOLLOWER}",
        "-p",
        f"output:={bags}",
        "-p",
        "autostart:=true",
    )
    for topic in (
        "/follower/joint_states",
        "/follower/joint_commands",
        "/front/image_raw/compressed",
        "/wrist/image_raw",
    ):
        procs.wait_for("recorder", f"(subscribed {re.escape(topic)})")
    rclpy.init()
    try:
        node = rclpy.create_node("demo_operator")
        start, stop = (
            node.create_client(StartEpisode, "/start_episode"),
            node.create_client(StopEpisode, "/stop_episode"),
        )

        def call(client, request):
            if not client.wait_for_service(timeout_sec=20):
                raise SystemExit(f"{client.srv_name} did not appear")
            future = client.call_async(request)
            rclpy.spin_until_future_complete(node, future, timeout_sec=20)
            return future.result()

        kept = []
        for task in TASKS:
            started = call(start, StartEpisode.Request(task=task))
            time.sleep(4.0)
            stopped = call(stop, StopEpisode.Request(keep=True))
            kept.append(Path(stopped.path))
            print(f"  2. recorded episode {started.episode_index} ({task!r}): {stopped.message}")
        node.destroy_node()
        return kept
    finally:
        rclpy.try_shutdown()


def convert_and_check(bags: list[Path], dataset: Path) -> bool:
    from lerobot_drivers.cameras import decode_index
    from lerobot_drivers.profile import load_profile
    from lerobot_recorder.convert import convert
    from lerobot_recorder.reader import DatasetReader
    from lerobot_recorder.spec import DatasetSpec
    from lerobot_recorder.validate import validate

    started = time.monotonic()
    reports = convert(bags, DatasetSpec.from_profile(load_profile(FOLLOWER)), dataset)
    for r in reports:
        worst = max(r["streams"].values(), key=lambda q: q["worst_staleness_s"])["worst_staleness_s"]
        frames = f"{r['frames']} frames at {r['fps']} fps, {r['dropped_frames']} dropped"
        print(f"  4. episode {r['episode_index']}: {frames}, worst staleness {worst * 1e3:.1f} ms")
    problems = validate(dataset)
    reader = DatasetReader(dataset)
    item = reader.frame(reader.num_frames // 2)
    moving = float(abs(reader.episode_data(0)["observation.state"]).max())
    print(
        f"     converted in {time.monotonic() - started:.1f} s to {dataset} (LeRobotDataset v3.0): "
        f"{problems or 'valid'}; tasks {reader.tasks}"
    )
    print(
        f"     read back frame {reader.num_frames // 2}: task {item['task']!r}, front camera frame "
        f"#{decode_index(item['observation.images.front'])}, arm moved up to {moving:.2f} rad"
    )
    return not problems and reader.num_episodes == len(TASKS) and moving > 0.05


def main() -> int:
    from lerobot_drivers.sim.cli import send_command

    workdir = Path(tempfile.mkdtemp(prefix="lerobot_demo_"))
    env = {
        **os.environ,
        "ROS_DOMAIN_ID": str(random.randint(1, 101)),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_LOG_DIR": str(workdir),
        "PYTHONUNBUFFERED": "1",
        "RCUTILS_LOGGING_BUFFERED_STREAM": "0",
    }
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOG_DIR")})
    shutil.rmtree(OUTPUT, ignore_errors=True)
    print(
        f"main job: the suite end to end on simulated hardware (DDS domain {env['ROS_DOMAIN_ID']}, logs in {workdir})"
    )
    begun = time.monotonic()
    procs = Processes(workdir, env)
    try:
        control = bring_up(procs)
        bags = record(procs, OUTPUT / "bags")
        for name in ("recorder", "leader", "camera_front", "camera_wrist"):
            procs.stop(name)
        code = procs.stop("follower")
        torque = send_command(control, {})["torque"]
        off = all(v == 0 for v in torque.values())
        torque_state = "yes" if off else "NO"
        print(f"  3. all stopped with Ctrl-C; follower driver exit {code}, torque off on all servos: {torque_state}")
        ok = convert_and_check(bags, OUTPUT / "dataset") and off and code == 0
    finally:
        procs.stop_all()
    print(f"main job {'passed' if ok else 'FAILED'} in {time.monotonic() - begun:.1f} s; output in {OUTPUT}")
    print("not yet part of the main job: the VLA policy (training on this dataset, serving it on the arm)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
