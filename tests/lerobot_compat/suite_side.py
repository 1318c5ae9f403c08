"""The suite's side of the LeRobot policy judge (runs in the suite's venv).

    inputs WORK          the observations, stats, tokenizer, noise and times both sides use
    compare WORK         load LeRobot's checkpoint (WORK/lerobot_pi05) through the suite's public
                         path (PolicyBundle) and compare every output with LeRobot's references
    train WORK DATASET   train a policy with the suite's trainer on a converted dataset and write
                         its actions for WORK's inputs, for LeRobot to reproduce

Size lookups are patched to shared.py's small sizes, as on LeRobot's side; nothing else is.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).parent))
import shared

from lerobot_policy import configuration
from lerobot_policy.bundle import ACTION, STATE, PolicyBundle
from lerobot_policy.collate import Collator, observation_batch
from lerobot_policy.rtc import Guidance, prefix_weights
from lerobot_policy.text import train_small_tokenizer

# what each comparison must meet: (max abs difference, of what)
# bounds on max |suite - LeRobot|, times max(1, the largest value): fp32 rounds a squared error
# near 30 to 4e-6; bf16 keeps 8 bits of mantissa and the two round in different places
FP32_BOUND, BF16_BOUND = 1e-5, 0.01


def patch_sizes() -> None:
    for name, size in shared.GEMMA.items():
        configuration.GEMMA[name] = configuration.GemmaSize(**size)
    configuration.SIGLIP["siglip_so400m"] = configuration.SiglipSize(**shared.SIGLIP)


def make_inputs(work: Path) -> None:
    rng = np.random.default_rng(7)
    low = rng.uniform(-2.0, -0.5, shared.STATE_DIM).astype(np.float32)
    high = rng.uniform(0.5, 2.0, shared.STATE_DIM).astype(np.float32)
    stats = {}
    for feature in (STATE, ACTION):
        values = {"q01": low, "q99": high, "min": low - 0.2, "max": high + 0.2, "mean": (low + high) / 2,
                  "std": high - low}  # fmt: skip
        stats.update({f"{feature}.{stat}": torch.tensor(v) for stat, v in values.items()})
    save_file(stats, str(work / "stats.safetensors"))
    h, w = shared.IMAGE_HW
    images = {
        key: torch.as_tensor(rng.integers(0, 256, (shared.BATCH, h, w, 3), dtype=np.uint8)) for key in shared.CAMERAS
    }
    state = torch.as_tensor(rng.uniform(-2.2, 2.2, (shared.BATCH, shared.STATE_DIM)).astype(np.float32))
    actions = torch.as_tensor(rng.uniform(-1.5, 1.5, (shared.BATCH, 50, shared.ACTION_DIM)).astype(np.float32))
    generator = torch.Generator().manual_seed(3)
    save_file(
        {**{f"image.{key}": value for key, value in images.items()}, "state": state, "actions": actions,
         "noise": torch.randn(shared.BATCH, 50, 32, generator=generator),
         "leftover": torch.randn(shared.BATCH, 50, 32, generator=generator) * 0.5,
         "time": torch.tensor([0.3, 0.85])},
        str(work / "inputs.safetensors"),
    )  # fmt: skip
    corpus = [f"Task: {t.strip()}, State: {' '.join(map(str, range(256)))};\nAction: " for t in shared.TASKS]
    train_small_tokenizer(corpus * 20, 400).save(work / "tokenizer")


def read_inputs(work: Path) -> dict[str, torch.Tensor]:
    return load_file(str(work / "inputs.safetensors"))


def observation(inputs: dict[str, torch.Tensor], cameras: list[str]) -> list[list[np.ndarray | None]]:
    return [[inputs[f"image.{key}"][i].numpy() if key in cameras else None for key in shared.CAMERAS]
            for i in range(shared.BATCH)]  # fmt: skip


class VelocityLog:
    """The velocities the model outputs, step by step (a hook on action_out_proj, as on LeRobot's side)."""

    def __init__(self, bundle: PolicyBundle) -> None:
        self.steps: list[torch.Tensor] = []
        bundle.policy.model.action_out_proj.register_forward_hook(lambda _m, _i, out: self.steps.append(out.float()))


def suite_outputs(folder: Path, work: Path, dtype: str) -> dict:
    """Everything the judge compares, computed by the suite from a LeRobot checkpoint folder."""
    bundle = PolicyBundle.load(folder, dtype=dtype, text_tokenizer=str(work / "tokenizer"))
    config, assets = bundle.policy.config, bundle.assets
    normalizer = assets.normalizer(config)
    inputs = read_inputs(work)
    out: dict[str, torch.Tensor] = {}
    collate = Collator(config, normalizer, assets.text)
    samples = [{"images": views, "state": inputs["state"][i].numpy(), "task": shared.TASKS[i],
                "actions": inputs["actions"][i].numpy(), "action_pad": np.zeros(50, dtype=bool)}
               for i, views in enumerate(observation(inputs, shared.CAMERAS))]  # fmt: skip
    batch = collate(samples)
    out["prompt_ids"], out["prompt_mask"], out["text"] = batch.prompt, batch.prompt_mask.long(), assets.text
    with torch.no_grad():
        trained = bundle.policy.model.outputs(batch, inputs["noise"], inputs["time"])
    out["train_velocity"] = trained.velocity
    out["train_loss"] = ((trained.velocity - trained.target) ** 2)[..., : shared.ACTION_DIM]
    obs_full = None
    for name, cameras in (("", shared.CAMERAS), ("missing_", shared.CAMERAS[:1])):
        obs = observation_batch(config, normalizer, assets.text, images=observation(inputs, cameras),
                                states=inputs["state"].numpy(), tasks=shared.TASKS)  # fmt: skip
        obs_full = obs_full or obs
        log = VelocityLog(bundle)
        normalized = bundle.policy.sample_actions(obs, inputs["noise"])[..., : shared.ACTION_DIM]
        out[f"{name}actions"] = normalizer.unnormalize(ACTION, normalized.float())
        out[f"{name}step_velocities"] = torch.stack(log.steps)
        bundle.policy.model.action_out_proj._forward_hooks.clear()
    # LeRobot guides all max_action_dim dims towards the leftover; so does this comparison
    weights = prefix_weights(shared.RTC_DELAY, shared.RTC_HORIZON, config.chunk_size)
    guidance = Guidance(inputs["leftover"], weights, action_dim=config.max_action_dim, max_weight=10.0)
    guided = bundle.policy.sample_actions(obs_full, inputs["noise"], guidance=guidance)[..., : shared.ACTION_DIM]
    out["rtc_actions"] = normalizer.unnormalize(ACTION, guided.float())
    return out


def compare(work: Path, folder: Path) -> list[str]:
    """Each comparison as a line; raises AssertionError on the first that fails its bound."""
    reference = load_file(str(work / "reference.safetensors"))
    expected_prompts = json.loads((work / "reference.json").read_text())["prompts"]
    lines = []
    for dtype, prefix, bound in (("float32", "", FP32_BOUND), ("bfloat16", "bf16_", BF16_BOUND)):
        ours = suite_outputs(folder, work, dtype)
        rows = zip(ours["prompt_ids"], ours["prompt_mask"], strict=True)
        texts = [ours["text"].decode(row[mask.bool()].tolist()) for row, mask in rows]
        assert texts == expected_prompts, f"prompts differ:\n suite   {texts}\n LeRobot {expected_prompts}"
        for key in ("prompt_ids", "prompt_mask"):  # the same tokenizer: ids must be identical
            assert torch.equal(ours[key], reference[key]), f"{key} differ"
        for key in ("train_loss", "train_velocity", "step_velocities", "actions", "missing_step_velocities",
                    "missing_actions", "rtc_actions"):  # fmt: skip
            theirs = reference[prefix + key]
            assert ours[key].shape == theirs.shape, f"{dtype} {key}: shape {ours[key].shape} vs {theirs.shape}"
            diff = float((ours[key] - theirs).abs().max())
            scale = float(theirs.abs().max())
            limit = bound * max(1.0, scale)
            assert diff <= limit, f"{dtype} {key}: max |suite - LeRobot| {diff:.2e} > {limit:.2e}"
            lines.append(f"{dtype:8s} {key:24s} max |suite - LeRobot| {diff:.1e} (values up to {scale:.2f})")
    return [f"prompt text: identical ({texts[0]!r})", "prompt ids and masks: identical", *lines]


def train(work: Path, dataset: Path) -> None:
    from lerobot_policy.train import TrainConfig
    from lerobot_policy.train import train as run

    last = run(TrainConfig(dataset=str(dataset), output=str(work / "run"), steps=2, batch_size=2, size="full",
                           progress=False, policy={"chunk_size": 50})) / "pretrained_model"  # fmt: skip
    bundle = PolicyBundle.load(last)
    config, assets = bundle.policy.config, bundle.assets
    normalizer = assets.normalizer(config)
    inputs = read_inputs(work)
    images = observation(inputs, shared.CAMERAS)  # the dataset's cameras: front and wrist
    obs = observation_batch(config, normalizer, assets.text, images=images, states=inputs["state"].numpy(),
                            tasks=shared.TASKS)  # fmt: skip
    normalized = bundle.policy.sample_actions(obs, inputs["noise"])[..., : shared.ACTION_DIM]
    save_file({"actions": normalizer.unnormalize(ACTION, normalized.float()), "prompt_ids": obs.prompt},
              str(work / "suite_actions.safetensors"))  # fmt: skip
    (work / "suite_policy").symlink_to(last)
    print(f"[suite] trained {last} for 2 steps; its actions for the judge's inputs written")


KEPT = ["inputs.safetensors", "stats.safetensors", "reference.safetensors", "reference.json", "shapes.json",
        "tokenizer", "lerobot_pi05/config.json", "lerobot_pi05/policy_preprocessor.json",
        "lerobot_pi05/policy_preprocessor_step_3_normalizer_processor.safetensors"]  # fmt: skip


def keep(work: Path, target: Path) -> None:
    """What the in-repo guard needs: LeRobot's outputs, config and stats; the weights are
    regenerated from shapes.json and their names."""
    for name in KEPT:
        source, destination = work / name, target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.rmtree(destination, ignore_errors=True)
            shutil.copytree(source, destination)
        else:
            shutil.copy2(source, destination)
    print(f"[suite] references kept in {target}")


def rebuild(kept: Path, work: Path) -> Path:
    """The judge's work folder from kept references: LeRobot's checkpoint with its weights
    regenerated from their names."""
    shutil.copytree(kept, work, dirs_exist_ok=True)
    shapes = json.loads((work / "shapes.json").read_text())
    save_file(shared.seeded_weights(shapes), str(work / "lerobot_pi05" / "model.safetensors"))
    return work / "lerobot_pi05"


def main() -> None:
    command, work = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(2)
    patch_sizes()
    if command == "inputs":
        make_inputs(work)
    elif command == "compare":
        for line in compare(work, work / "lerobot_pi05"):
            print(f"[suite <- LeRobot] {line}")
    elif command == "keep":
        keep(work, Path(sys.argv[3]))
    elif command == "train":
        train(work, Path(sys.argv[3]))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
