"""Chunk seams and starvation: the same recorded observations and noise, acted on tick by tick
with real-time chunking against plain replacement (and the temporal ensemble).

A tiny policy is trained on a converted synthetic dataset (or --policy FOLDER, --dataset
FOLDER). At 30 Hz, the executor is ticked through the dataset's observations; an inference
starts when the queue runs low, takes the model's measured time (plus --extra-latency-ms,
also run at 300 ms) and its chunk is merged when that many ticks have passed. Measured per
mode: the largest joint step at a chunk boundary, the largest step inside a chunk, starved
ticks. Targets: rtc / replace boundary step <= 0.3; rtc's boundary steps no larger than the
steps inside its chunks; no starved tick while inference is shorter than a chunk.
Last line: the boundary ratios, at the measured latency and with 300 ms more.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lerobot_policy.bundle import PolicyBundle
from lerobot_policy.execution import ChunkExecutor
from lerobot_policy.rtc import LatencyTracker
from lerobot_policy.runner import Observation, PolicyRunner, RTCPlan
from lerobot_recorder.reader import DatasetReader

ROOT = Path(__file__).resolve().parents[1]
FPS, TICKS, STEPS = 30, 240, 500  # STEPS: training steps of the tiny policy (smooth enough chunks)


def make_policy(work: Path) -> tuple[Path, Path]:
    from lerobot_drivers.profile import load_profile
    from lerobot_policy.train import TrainConfig, train
    from lerobot_recorder.convert import convert
    from lerobot_recorder.spec import DatasetSpec
    from lerobot_recorder.synthetic import SyntheticArm, write_bag

    spec = DatasetSpec.from_profile(load_profile(ROOT / "config" / "so101_follower_sim.yaml"))
    bag = write_bag(work / "bag", SyntheticArm(), [(0, 4, "pick the cube"), (4.5, 8.5, "place the cube")])
    convert([bag], spec, work / "dataset", codec="libx264")
    last = train(TrainConfig(dataset=str(work / "dataset"), output=str(work / "run"), steps=STEPS, batch_size=8,
                             progress=False, policy={"chunk_size": 20, "n_action_steps": 20}))  # fmt: skip
    return last / "pretrained_model", work / "dataset"


def observations(dataset: Path, count: int) -> list[Observation]:
    reader = DatasetReader(dataset)
    out = []
    for index in range(count):
        frame = reader.frame(index % reader.num_frames)
        images = {key: np.asarray(frame[key]) for key in reader.video_keys}
        out.append(Observation(images, np.asarray(frame["observation.state"], np.float32), index, frame["task"]))
    return out


def act(bundle: PolicyBundle, obs: list[Observation], mode: str, extra_s: float) -> dict[str, float]:
    """Tick through the observations; returns the seam statistics of this mode."""
    runner = PolicyRunner(bundle, steps=5, seed=0)
    config = bundle.policy.config
    executor, latency = ChunkExecutor(mode, config.n_action_steps), LatencyTracker()
    period = 1.0 / FPS
    pending = None  # (arrival tick, ticket, actions, normalized)
    before_first = 0
    model_times = []
    for tick in range(len(obs)):
        if pending is not None and tick >= pending[0]:
            if executor.stats.merged_chunks == 0:
                before_first = executor.stats.starved_ticks  # waiting for the first chunk is not starvation
            executor.merge(*pending[1:])
            pending = None
        delay = latency.delay_steps(period)
        if pending is None and executor.queued() <= delay + 2:
            ticket = executor.start_inference(delay)
            committed = executor.committed() if mode == "rtc" else None
            plan = None if committed is None else RTCPlan(committed, delay, execution_horizon=10)
            started = time.perf_counter()
            actions, normalized = runner.infer(obs[tick], plan)
            seconds = time.perf_counter() - started + extra_s
            model_times.append(seconds - extra_s)
            latency.add(seconds)
            pending = (tick + max(1, math.ceil(seconds / period)), ticket, actions, normalized)
        executor.next_step()
    stats = executor.stats
    return {"boundary": stats.largest_boundary_step, "inner": stats.largest_inner_step,
            "starved": stats.starved_ticks - before_first,
            "model_ms": 1e3 * float(np.median(model_times))}  # fmt: skip


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
    ratios = []
    for extra in (0.0, 0.3):
        results = {mode: act(bundle, obs, mode, extra) for mode in ("rtc", "replace", "ensemble")}
        for mode, r in results.items():
            print(f"+{extra * 1e3:.0f} ms, {mode:8s}: largest step at a chunk boundary {r['boundary']:.4f} rad, "
                  f"inside a chunk {r['inner']:.4f} rad, starved ticks after the first chunk {r['starved']}, "
                  f"model {r['model_ms']:.0f} ms")  # fmt: skip
        ratios.append(results["rtc"]["boundary"] / results["replace"]["boundary"])
    print(f"rtc/replace largest boundary step {ratios[0]:.2f} (<= 0.3), with 300 ms more {ratios[1]:.2f} (<= 0.3)")


if __name__ == "__main__":
    main()
