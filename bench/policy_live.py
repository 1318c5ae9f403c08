"""The policy node in its own process on the simulated SO-101 with two 640x480 cameras.

Processes on a private DDS domain: the simulated follower bus (1 Mbps wire timing), its arm
driver, two camera nodes (front jpeg, wrist raw, 30 fps), the policy node; this process
observes. Per chunk: observation-to-chunk latency (the chunk's arrival here minus its
observation stamp, which the arm driver set when it read the servos) and
observation-to-command (the first joint command after that arrival); the node's overhead,
chunk by chunk: observation to chunk minus that chunk's inference time, from the node's status
(`last_sequence`, `last_inference_latency`; a loaded machine slows the model by tens of ms
from one chunk to the next, so medians of the two taken apart do not subtract). The node's own
diagnostics give the model's time in the same run, starved ticks and chunk seams.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from demo import FOLLOWER, Processes, isolated_env, spin_until, stop_on_sigterm  # noqa: E402 - the demo's process handling, reused


def bring_up(procs: Processes, policy: Path, mode: str, added_latency_s: float, steps: int) -> None:
    """The sim_arm scenario (as `lerobot_bringup sim_arm`), then the policy node."""
    from dataclasses import replace

    from lerobot_bringup.scenarios import SCENARIOS, policy_node

    full_size = {"width": 640, "height": 480}  # measured with full-size frames
    procs.start_all([
        replace(p, parameters={**p.parameters, **full_size}) if p.executable == "lerobot_camera" else p
        for p in SCENARIOS["sim_arm"].processes({"profile": str(FOLLOWER)})
    ])  # fmt: skip
    procs.wait_for("arm_driver", r"(active at \d+ Hz)")
    node = policy_node({"policy_path": str(policy), "task": "pick the cube", "device": "cpu"}, str(FOLLOWER))
    extra = {"chunk_execution": mode, "added_latency_s": added_latency_s, "inference_steps": steps}
    procs.start(replace(node, parameters={**node.parameters, **extra}))


def observe(seconds: float) -> dict[str, float]:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import JointState

    from lerobot_drivers.ros_time import time_to_ns
    from lerobot_msgs.msg import ActionChunk, PolicyStatus

    context = rclpy.Context()
    rclpy.init(context=context)
    chunks, commands, diagnostics = [], [], {}
    inference_s: dict[int, list[float]] = {}
    try:
        node = rclpy.create_node("bench_observer", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        node.create_subscription(
            ActionChunk, "/policy/action_chunk",
            lambda m: chunks.append((time.time_ns(), time_to_ns(m.observation_stamp), m.sequence)), 50,
        )  # fmt: skip
        node.create_subscription(
            PolicyStatus, "/policy/status",
            lambda m: inference_s.setdefault(m.last_sequence, []).append(m.last_inference_latency), 50,
        )  # fmt: skip
        node.create_subscription(
            JointState, "/follower/joint_commands", lambda m: commands.append(time.time_ns()),
            QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT),
        )  # fmt: skip

        def keep(msg: DiagnosticArray) -> None:
            for status in msg.status:
                if status.name.endswith(": policy"):
                    diagnostics.update({kv.key: kv.value for kv in status.values})

        node.create_subscription(DiagnosticArray, "/diagnostics", keep, 10)
        spin_until(executor, lambda: bool(chunks), 120)
        if not chunks:
            raise SystemExit("the policy node published no chunk in 120 s")
        first = len(chunks)
        spin_until(executor, lambda: False, seconds)
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    measured = chunks[first:]
    to_chunk = np.array([(arrival - stamp) / 1e6 for arrival, stamp, _ in measured])
    sent = np.array(commands)
    to_command = np.array([(sent[sent > arrival][0] - stamp) / 1e6 for arrival, stamp, _ in measured
                           if (sent > arrival).any()])  # fmt: skip
    # the median of the statuses naming a chunk: one published between an inference's end and
    # its chunk's sequence number would carry the next chunk's time
    overhead = np.array([(arrival - stamp) / 1e6 - 1e3 * float(np.median(inference_s[sequence]))
                         for arrival, stamp, sequence in measured if sequence in inference_s])  # fmt: skip
    return {
        "chunks": len(measured),
        "to_chunk_p50": float(np.median(to_chunk)), "to_chunk_p99": float(np.quantile(to_chunk, 0.99)),
        "to_command_p50": float(np.median(to_command)), "to_command_p99": float(np.quantile(to_command, 0.99)),
        "overhead_p50": float(np.median(overhead)), "overhead_p99": float(np.quantile(overhead, 0.99)),
        "overhead_chunks": len(overhead),
        "model_p50": 1e3 * float(diagnostics["inference latency p50 (s)"]),
        "model_p99": 1e3 * float(diagnostics["inference latency p99 (s)"]),
        "starved": int(diagnostics["starved ticks"]),
        "boundary": float(diagnostics["largest step at a chunk boundary (rad)"]),
        "inner": float(diagnostics["largest step inside a chunk (rad)"]),
    }  # fmt: skip


def run(policy: Path, mode: str, added_latency_s: float, seconds: float, steps: int) -> dict[str, float]:
    """One live run: bring-up, `seconds` of acting measured, everything stopped with Ctrl-C."""
    stop_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="bench_policy_"))
    procs = Processes(workdir, isolated_env(workdir))  # a new domain per run: no stale node is discovered
    try:
        bring_up(procs, policy, mode, added_latency_s, steps)
        return observe(seconds)
    finally:
        procs.stop_all()
