"""`lerobot_policy_train`: train the fused pi0.5 model on a LeRobotDataset v3 folder.

lerobot_policy_train --dataset datasets/pick --output runs/pick --steps 2000 --set fast_loss_weight=1
torchrun --nproc_per_node 2 $(which lerobot_policy_train) --dataset ... --output ...   # several processes
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import yaml

from lerobot_policy.errors import PolicyError
from lerobot_policy.train import TrainConfig, train
from lerobot_recorder.errors import DatasetError

HELP = {
    "steps": "optimizer steps in all (a resumed run continues up to this)",
    "batch_size": "samples per micro-batch and process",
    "grad_accumulation": "micro-batches per optimizer step",
    "precision": "fp32, or bf16 (autocast; weights and optimizer state stay fp32)",
    "size": "tiny (tests, demo) or full (PaliGemma 2B + Gemma 300M)",
    "pretrained": "a pi05 checkpoint folder (model.safetensors + config.json) to fine-tune",
    "text_tokenizer": "folder or hub id of the PaliGemma tokenizer; default: train a small one (tiny models)",
    "text_target": "a per-frame string column of the dataset to train the text loss on",
    "text_vocab_size": "ids of the small text tokenizer trained here (tiny models)",
    "fast_vocab_size": "ids of the FAST action tokenizer fitted here (with --set fast_loss_weight=...)",
    "num_workers": "data loader processes",
    "log_every": "steps between metrics lines",
    "save_every": "steps between checkpoints",
    "device": "auto, cpu, cuda, cuda:N",
}


def parse_set(items: list[str]) -> dict[str, Any]:
    """`key=value` pairs for the model config; values are read as YAML scalars (1, 0.5, true)."""
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise PolicyError(f"--set {item!r}: write key=value, e.g. --set fast_loss_weight=1")
        values[key.strip()] = _number_or_yaml(value)
    return values


def _number_or_yaml(text: str) -> Any:
    """YAML reads 1e-3 as a string (its floats need a dot): numbers first."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return yaml.safe_load(text)


def resumed_run_config(args: argparse.Namespace) -> Path | None:
    """A resumed run continues with the options it started with (as LeRobot resumes from its
    train_config.json): its own train_config.yaml, under what this command line gives."""
    saved = Path(args.output) / "train_config.yaml" if args.resume and args.output else None
    return saved if saved is not None and saved.exists() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the fused pi0.5 model (flow + text + FAST) on a dataset.")
    parser.add_argument("--config", type=Path, help="a YAML file with any of the options below")
    parser.add_argument("--dataset", help="a LeRobotDataset v3 folder")
    parser.add_argument("--output", help="the run folder: checkpoints, metrics.jsonl, loss_curve.png")
    parser.add_argument("--resume", action="store_true", default=None, help="continue from the run's last checkpoint")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a model config field (loss weights, lr, chunk_size, ...); repeatable")  # fmt: skip
    parser.add_argument("--camera", dest="cameras", action="append", metavar="KEY",
                        help="a video feature to train on; repeatable (default: every camera)")  # fmt: skip
    parser.add_argument("--augment-images", action="store_true", default=None,
                        help="openpi's augmentation: fixed cameras cropped and turned, all jittered")  # fmt: skip
    for name, text in HELP.items():
        kind = int if isinstance(getattr(TrainConfig, name, None), int) else str
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, help=text)
    args = parser.parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k not in ("config", "set") and v is not None}
    try:
        policy = parse_set(args.set)
        config_file = args.config or resumed_run_config(args)
        if config_file:
            cfg = TrainConfig.from_yaml(config_file, **options)
            cfg.policy = {**cfg.policy, **policy}
        else:
            missing = [f"--{k}" for k in ("dataset", "output") if k not in options]
            if missing:
                parser.error(f"{' and '.join(missing)} required (or a --config that gives them)")
            cfg = TrainConfig(**options, policy=policy)
        last = train(cfg)
    except (PolicyError, DatasetError) as exc:
        print(f"training stopped: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("training interrupted; resume with --resume from the last checkpoint", file=sys.stderr)
        return 130
    print(f"done: {last} ({dataclasses.asdict(cfg)['steps']} steps); metrics in {cfg.output}/metrics.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
