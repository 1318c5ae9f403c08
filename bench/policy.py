"""Chunk seams, starvation and the node's own cost: real-time chunking against plain
replacement (and the temporal ensemble).

A tiny policy (50-step chunks, as LeRobot's pi05) is trained on a converted synthetic
dataset (or --policy FOLDER, --dataset FOLDER).
Live (policy_live.py): the policy node in its own process on the simulated SO-101 with two
640x480 cameras, 20 s each with rtc, replace, and rtc with 300 ms of added inference latency:
observation-to-chunk and -to-command latency p50/p99, the model's time in the same run (the
node's diagnostics), starved ticks, boundary steps. Node overhead = observation to chunk
minus that chunk's inference time, p50 over the chunks (target <= 5 ms).
Offline: at 30 Hz the executor is ticked through the dataset's observations, the same for
every mode; an inference starts when the queue runs low, takes the model's median time
measured beforehand (plus 300 ms in the second round; the same schedule for every mode) and
its chunk is merged when that many ticks have passed.
Targets: rtc / replace largest boundary step <= 0.3; rtc's boundary steps no larger than the
steps inside its chunks; no starved tick while inference is shorter than half a chunk (one
inference at a time: a chunk must cover its own inference and the next).
Last line: the boundary ratios, at the measured latency and with 300 ms more, and the overhead.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import policy_live
import torch

from lerobot_policy.bundle import PolicyBundle
from lerobot_policy.execution import ChunkExecutor
from lerobot_policy.rtc import LatencyTracker
from lerobot_policy.runner import Observation, PolicyRunner, RTCPlan
from lerobot_recorder.reader import DatasetReader

ROOT = Path(__file__).resolve().parents[1]
FPS, TICKS, LIVE_SECONDS = 30, 1200, 20  # TICKS: 40 s of recorded observations, about 25 chunk seams per mode
# training steps of the tiny policy, denoising steps. A seam can be no smoother than the chunks
# it joins: after 1500 steps the chunks' mean joint step was 0.07 rad and
# rtc/replace 0.41; after 4500 steps 0.034 and 0.18 (the data's: 0.017; same data, seed, schedule).
STEPS, STEPS_PER_CHUNK = 4500, 5
# a tiny model learns at rates the full one would not survive: smooth chunks in minutes
FAST_LEARNING = {"optimizer_lr": 1e-3, "scheduler_warmup_steps": 100, "scheduler_decay_steps": STEPS,
                 "scheduler_decay_lr": 1e-4}  # fmt: skip


def make_policy(work: Path) -> tuple[Path, Path]:
    from lerobot_drivers.profile import load_profile
    from lerobot_policy.train import TrainConfig, train
    from lerobot_recorder.convert import convert
    from lerobot_recorder.spec import DatasetSpec
    from lerobot_recorder.synthetic import SyntheticArm, write_bag

    spec = DatasetSpec.from_profile(load_profile(ROOT / "config" / "so101_follower_sim.yaml"))
    bag = write_bag(work / "bag", SyntheticArm(), [(0, 20, "pick the cube"), (20.5, 40.5, "place the cube")])
    convert([bag], spec, work / "dataset", codec="libx264")
    policy = {"chunk_size": 50, "n_action_steps": 50, **FAST_LEARNING}  # LeRobot pi05: 50 steps
    last = train(TrainConfig(dataset=str(work / "dataset"), output=str(work / "run"), steps=STEPS, batch_size=8,
                             progress=False, policy=policy))  # fmt: skip
    return last / "pretrained_model", work / "dataset"


def observations(dataset: Path, count: int) -> list[Observation]:
    reader = DatasetReader(dataset)
    out = []
    for index in range(count):
        frame = reader.frame(index % reader.num_frames)
        images = {key: np.asarray(frame[key]) for key in reader.video_keys}
        out.append(Observation(images, np.asarray(frame["observation.state"], np.float32), index, frame["task"]))
    return out


def smoothness(bundle: PolicyBundle, obs: list[Observation], dataset: Path, calls: int = 10) -> tuple[float, float]:
    """The mean joint step inside the policy's chunks and inside the dataset's actions (rad):
    noise the model has not learned to remove shows up as steps the data never had."""
    runner = PolicyRunner(bundle, steps=STEPS_PER_CHUNK, seed=0)
    stride = max(1, len(obs) // calls)
    chunks = [runner.infer(observation)[0] for observation in obs[::stride][:calls]]
    reader = DatasetReader(dataset)
    actions = [np.asarray(reader.episode_data(e)["action"]) for e in range(reader.num_episodes)]
    return (float(np.mean([np.abs(np.diff(c, axis=0)).mean() for c in chunks])),
            float(np.mean([np.abs(np.diff(a, axis=0)).mean() for a in actions])))  # fmt: skip


def model_seconds(bundle: PolicyBundle, obs: list[Observation], calls: int = 6) -> float:
    """The model's median time per chunk on these observations (after one warm-up call)."""
    runner = PolicyRunner(bundle, steps=STEPS_PER_CHUNK, seed=0)
    times = []
    for observation in obs[: calls + 1]:
        started = time.perf_counter()
        runner.infer(observation)
        times.append(time.perf_counter() - started)
    return float(np.median(times[1:]))


def act(bundle: PolicyBundle, obs: list[Observation], mode: str, latency_s: float) -> dict[str, float]:
    """Tick through the observations, every inference taking `latency_s` (the same schedule in
    every mode); returns the seam statistics of this mode."""
    runner = PolicyRunner(bundle, steps=STEPS_PER_CHUNK, seed=0)
    config = bundle.policy.config
    executor, latency = ChunkExecutor(mode, config.n_action_steps), LatencyTracker()
    period = 1.0 / FPS
    pending = None  # (arrival tick, ticket, actions, normalized)
    for tick in range(len(obs)):
        if pending is not None and tick >= pending[0]:
            executor.merge(*pending[1:])
            pending = None
        delay = latency.delay_steps(period)
        if pending is None and executor.needs_refill(delay):
            ticket = executor.start_inference(delay)
            committed = executor.committed() if mode == "rtc" else None
            plan = None if committed is None else RTCPlan(committed, delay, execution_horizon=10)
            actions, normalized = runner.infer(obs[tick], plan)
            latency.add(latency_s)
            pending = (tick + max(1, math.ceil(latency_s / period)), ticket, actions, normalized)
        executor.next_step()
    stats = executor.stats
    return {"boundary": stats.largest_boundary_step, "inner": stats.largest_inner_step,
            "starved": stats.starved_ticks}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", type=Path)
    parser.add_argument("--dataset", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp())
    policy, dataset = (args.policy, args.dataset) if args.policy else make_policy(work)
    bundle = PolicyBundle.load(policy)
    obs = observations(dataset, TICKS)
    live = {(mode, extra): policy_live.run(policy, mode, extra, LIVE_SECONDS, STEPS_PER_CHUNK)
            for mode, extra in (("rtc", 0.0), ("replace", 0.0), ("rtc", 0.3))}  # fmt: skip
    for (mode, extra), r in live.items():
        print(f"node, {mode:7s} +{extra * 1e3:.0f} ms: {r['chunks']} chunks; observation to chunk p50 "
              f"{r['to_chunk_p50']:.1f} / p99 {r['to_chunk_p99']:.1f} ms, to command p50 {r['to_command_p50']:.1f} / "
              f"p99 {r['to_command_p99']:.1f} ms; model p50 {r['model_p50']:.1f} / p99 {r['model_p99']:.1f} ms; "
              f"starved ticks {r['starved']}; largest step at a boundary {r['boundary']:.4f} rad, inside a chunk "
              f"{r['inner']:.4f} rad")  # fmt: skip
    base = live[("rtc", 0.0)]
    overhead = base["overhead_p50"]
    print(f"node overhead (observation to chunk minus the chunk's inference time, over {base['overhead_chunks']} "
          f"chunks): p50 {overhead:.1f} ms (<= 5), p99 {base['overhead_p99']:.1f} ms")  # fmt: skip
    ratios = []
    model_s = model_seconds(bundle, obs)
    chunk_step, data_step = smoothness(bundle, obs, dataset)
    print(f"mean joint step inside the policy's chunks {chunk_step:.4f} rad, inside the dataset's actions "
          f"{data_step:.4f} rad")  # fmt: skip
    for extra in (0.0, 0.3):
        results = {mode: act(bundle, obs, mode, model_s + extra) for mode in ("rtc", "replace", "ensemble")}
        for mode, r in results.items():
            print(f"+{extra * 1e3:.0f} ms, {mode:8s}: largest step at a chunk boundary {r['boundary']:.4f} rad, "
                  f"inside a chunk {r['inner']:.4f} rad, starved ticks after the first chunk {r['starved']}, "
                  f"model {model_s * 1e3:.0f} ms")  # fmt: skip
        ratios.append(results["rtc"]["boundary"] / results["replace"]["boundary"])
    print(f"rtc/replace largest boundary step {ratios[0]:.2f} (<= 0.3), with 300 ms more {ratios[1]:.2f} (<= 0.3); "
          f"node overhead {overhead:.1f} ms (<= 5)")  # fmt: skip


if __name__ == "__main__":
    main()
