"""The suite end to end on simulated hardware, saying plainly what ran.

Processes on a private DDS domain (limited to this host):
  simulated SO-101 follower bus + arm driver (Feetech SDK, LeRobot calibration, torque on)
  simulated SO-101 leader bus (moved "by hand") + leader node: teleoperation of the follower
  two cameras (synthetic: front as jpeg CompressedImage, wrist as raw Image)
  the live recorder: two episodes recorded through its services, one mcap bag each
Then the bags are converted into a LeRobotDataset v3, validated, and read back; a tiny
pi0.5-style policy is trained on it and the policy node drives the simulated follower from
the cameras and joint states; everything stops with Ctrl-C, servos torqued off.
Last, a short closed loop in physics (bench/closed_loop.py, small): the follower in MuJoCo, a
scripted expert's reach demonstrations recorded, converted and trained on, and the success
rate of the expert, the mean demonstration and the trained policy on unseen cube places.
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
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from lerobot_bringup.scenario import Process

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config"
FOLLOWER, LEADER = CONFIG / "so101_follower_sim.yaml", CONFIG / "so101_leader_sim.yaml"
OUTPUT = ROOT / "demo_output"
TASKS = ["pick up the cube", "put the cube in the bowl"]


class Processes:
    """Every process of the demo, in its own process group, stopped on the way out."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env, self.running = workdir, env, {}

    def start(self, process: Process) -> subprocess.Popen:
        """A scenario's process, with the command line `lerobot_bringup` gives it."""
        from lerobot_bringup.runner import command_line

        log = (self.workdir / f"{process.name}.log").open("w")
        popen = subprocess.Popen(
            command_line(process), stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        self.running[process.name] = popen
        return popen

    def start_all(self, processes: list[Process]) -> None:
        """In order, each once the processes it waits for (simulators) report ready; as
        `lerobot_bringup`, without what runs under ros2 launch only."""
        ready = {process.name: process.ready for process in processes}
        for process in (p for p in processes if not p.ros_only):
            for name in process.after:
                self.wait_for(name, ready[name] or ".")
            self.start(process)

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
        """Every process, newest first; a second Ctrl-C or a SIGTERM meanwhile does not cut it short."""
        handlers = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for name in reversed(list(self.running)):
                self.stop(name)
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)


def stop_on_sigterm() -> None:
    """SIGTERM (from `timeout`, a CI runner, a service manager) unwinds as Ctrl-C does, through
    the `finally` that stops every process started."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))


def run_to_end(command: list[str]) -> subprocess.CompletedProcess:
    """A child that starts processes of its own, run to its end; if this one is stopped, the
    child gets a SIGTERM (and stops its processes) rather than subprocess.run's SIGKILL."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        try:
            stdout, stderr = child.communicate()
        except BaseException:
            child.terminate()
            child.wait(60)
            raise
    return subprocess.CompletedProcess(command, child.returncode, stdout, stderr)


_HELD_DOMAINS: list[IO[str]] = []  # locks held for the life of this process


def reserve_for_this_process() -> int:
    """A domain id no test or other run on this machine holds, kept until this process ends."""
    from lerobot_bringup.domains import DOMAIN_IDS, reserve_domain_id

    domain_id, lock = reserve_domain_id(random.randrange(len(DOMAIN_IDS)))
    _HELD_DOMAINS.append(lock)
    return domain_id


def isolated_env(workdir: Path) -> dict[str, str]:
    """A private DDS domain limited to this host, logs in `workdir`; set in this process too."""
    env = {
        **os.environ,
        "ROS_DOMAIN_ID": str(reserve_for_this_process()),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_LOG_DIR": str(workdir),
        "PYTHONUNBUFFERED": "1",
        "RCUTILS_LOGGING_BUFFERED_STREAM": "0",
    }
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOG_DIR")})
    return env


def spin_until(executor, done: Callable[[], bool], seconds: float) -> None:
    """Spin until `done()` or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)


def bring_up(procs: Processes) -> str:
    """The simulation scenario (as `lerobot_bringup simulation`); returns the follower's control socket."""
    from lerobot_bringup.scenarios import SCENARIOS

    procs.start_all(SCENARIOS["simulation"].processes({"profile": str(FOLLOWER), "leader_profile": str(LEADER)}))
    procs.wait_for("arm_driver", r"(active at \d+ Hz)")
    procs.wait_for("leader_arm", r"(teleoperating \S+)")
    print("  1. simulated SO-101 follower (1 Mbps wire timing) and leader buses; follower driver active, torque on;")
    print("     leader torque off, moved by hand, teleoperating the follower; cameras front (jpeg) and wrist (raw)")
    return procs.wait_for("follower_bus", r"control: (\S+)")


def record(procs: Processes, bags: Path) -> list[Path]:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from lerobot_bringup.scenarios import recorder
    from lerobot_bringup.service_call import answer
    from lerobot_msgs.srv import StartEpisode, StopEpisode

    procs.start(recorder(str(FOLLOWER), str(bags)))
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
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        start, stop = (
            node.create_client(StartEpisode, "/start_episode"),
            node.create_client(StopEpisode, "/stop_episode"),
        )
        kept = []
        for task in TASKS:
            started = answer(start, executor, StartEpisode.Request(task=task), timeout=20)
            time.sleep(4.0)
            stopped = answer(stop, executor, StopEpisode.Request(keep=True), timeout=20)
            kept.append(Path(stopped.path))
            print(f"  2. recorded episode {started.episode_index} ({task!r}): {stopped.message}")
        node.destroy_node()
        return kept
    finally:
        rclpy.try_shutdown()


def convert_and_check(bags: list[Path], dataset: Path) -> bool:
    import numpy as np

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
        filled = sum(q["filled_frames"] for q in r["streams"].values())
        frames = f"{r['frames']} frames at {r['fps']} fps (every tick a frame), {filled} filled"
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
    episodes = [reader.episode_data(e) for e in range(reader.num_episodes)]
    # per frame, the largest joint error; a stalled process on a loaded machine may lag a few frames
    errors = np.concatenate([abs(e["observation.state"] - e["action"]).max(axis=1) for e in episodes])
    typical, worst = float(np.percentile(errors, 95)), float(errors.max())
    print(
        f"     the follower tracked its commands within {typical:.3f} rad in 95% of frames (bound 0.1), "
        f"{worst:.3f} rad at worst, over every joint"
    )
    return not problems and reader.num_episodes == len(TASKS) and moving > 0.05 and typical < 0.1


def train_policy(dataset: Path, run: Path) -> Path:
    """A tiny pi0.5-style model, flow + FAST losses in one pass, on the dataset just recorded."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "lerobot_policy.train_cli", "--dataset", str(dataset), "--output", str(run),
         "--steps", "40", "--batch-size", "4", "--log-every", "5", "--save-every", "40",
         "--set", "flow_loss_weight=1", "--set", "fast_loss_weight=1", "--set", "optimizer_lr=1e-3",
         "--set", "scheduler_decay_lr=1e-4"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"training failed:\n{result.stderr[-3000:]}")
    import json

    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    print(
        f"  5. trained a tiny pi0.5-style policy (flow + FAST in one backbone pass) for {records[-1]['step']} steps "
        f"in {time.monotonic() - started:.1f} s: loss {records[0]['loss']:.2f} -> {records[-1]['loss']:.2f}; "
        f"checkpoint, metrics and loss curve in {run}"
    )
    return run / "checkpoints" / "last" / "pretrained_model"


def serve_policy(procs: Processes, policy: Path, seconds: float = 4.0) -> bool:
    """The policy node drives the follower from the cameras and joint states."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import JointState

    from lerobot_bringup.scenarios import policy_node
    from lerobot_msgs.msg import PolicyStatus

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("demo_observer", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        seen = {"commands": [], "states": [], "status": []}
        best_effort = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT)
        node.create_subscription(JointState, "/follower/joint_commands", seen["commands"].append, best_effort)
        node.create_subscription(
            JointState, "/follower/joint_states", lambda m: seen["states"].append(m.position), qos_profile_sensor_data
        )
        node.create_subscription(PolicyStatus, "/policy/status", seen["status"].append, 10)
        procs.start(policy_node({"policy_path": str(policy), "task": TASKS[0], "device": "cpu"}, str(FOLLOWER)))
        spin_until(executor, lambda: bool(seen["commands"]), 60)
        if not seen["commands"]:
            raise SystemExit(f"the policy node sent no command; its log:\n{procs.workdir / 'policy.log'}")
        seen["states"].clear()
        spin_until(executor, lambda: False, seconds)
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    running = [s for s in seen["status"] if s.state == PolicyStatus.STATE_RUNNING]
    latency = max((s.last_inference_latency for s in running), default=float("nan"))
    states = [list(p) for p in seen["states"]]
    moved = max(abs(a - b) for a, b in zip(states[0], states[-1], strict=True)) if len(states) > 1 else 0.0
    print(
        f"  6. policy node on the follower: {len(seen['commands'])} commands in {seconds:.0f} s, "
        f"{running[-1].chunks_published if running else 0} chunks, inference {latency * 1e3:.0f} ms, "
        f"arm moved {moved:.3f} rad under the policy"
    )
    return bool(running) and len(seen["commands"]) > seconds * 10 and moved > 0.001


def closed_loop(output: Path) -> bool:
    """The benchmark of task success, small: a few demonstrations, a short training."""
    started = time.monotonic()
    result = run_to_end(
        [sys.executable, str(ROOT / "bench" / "closed_loop.py"), "--task", "reach", "--demos", "3", "--episodes", "3",
         "--steps", "60", "--seconds", "6", "--output", str(output)]
    )  # fmt: skip
    lines = result.stdout.strip().splitlines()
    print(f"  8. closed loop in MuJoCo (bench/closed_loop.py, small), {time.monotonic() - started:.0f} s:")
    for line in lines[-7:] if result.returncode == 0 else lines[-5:] + result.stderr.splitlines()[-20:]:
        print(f"     {line}")
    expert_succeeded = re.search(r"\| expert \| \d+ \| ([1-9]\d*)%", result.stdout) is not None
    return result.returncode == 0 and expert_succeeded


def main() -> int:
    from lerobot_drivers.sim.cli import send_command

    stop_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="lerobot_demo_"))
    env = isolated_env(workdir)
    shutil.rmtree(OUTPUT, ignore_errors=True)
    print(
        f"main job: the suite end to end on simulated hardware (DDS domain {env['ROS_DOMAIN_ID']}, logs in {workdir})"
    )
    begun = time.monotonic()
    procs = Processes(workdir, env)
    try:
        control = bring_up(procs)
        bags = record(procs, OUTPUT / "bags")
        for name in ("recorder", "leader_arm"):
            procs.stop(name)
        print("  3. recorder and leader stopped with Ctrl-C; the follower holds its last command")
        converted = convert_and_check(bags, OUTPUT / "dataset")
        served = serve_policy(procs, train_policy(OUTPUT / "dataset", OUTPUT / "policy"))
        for name in ("policy", "camera_front", "camera_wrist"):
            procs.stop(name)
        code = procs.stop("arm_driver")
        torque = send_command(control, {})["torque"]
        off = all(v == 0 for v in torque.values())
        torque_state = "yes" if off else "NO"
        print(f"  7. all stopped with Ctrl-C; follower driver exit {code}, torque off on all servos: {torque_state}")
        crashed = sorted(log.stem for log in workdir.glob("*.log") if "Traceback" in log.read_text())
        print(f"     tracebacks in the processes' logs: {crashed or 'none'}")
        ok = converted and served and off and code == 0 and not crashed
    finally:
        procs.stop_all()
    ok = closed_loop(OUTPUT / "closed_loop") and ok
    print(f"main job {'passed' if ok else 'FAILED'} in {time.monotonic() - begun:.1f} s; output in {OUTPUT}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
