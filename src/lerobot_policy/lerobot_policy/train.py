"""Training the fused pi0.5 model on a LeRobotDataset v3 folder.

One loop for one CPU, one GPU or many (torchrun sets RANK/WORLD_SIZE: DistributedDataParallel
with gloo on CPUs, nccl on GPUs; rank 0 alone writes). The run folder:

    train_config.yaml, metrics.jsonl, loss_curve.png
    assets/                                  tokenizers and stats, prepared once by rank 0
    checkpoints/<step>/pretrained_model/     a PolicyBundle (LeRobot's pi05 checkpoint inside)
    checkpoints/<step>/training_state/       optimizer, schedule, step, random states
    checkpoints/last -> <step>

A checkpoint is written to a temporary folder and renamed, so a crash never leaves a half
checkpoint as `last`. The sample order is a function of (seed, epoch) and the noise comes
from the saved random state, so a resumed run continues exactly where the first one stopped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.distributed as torch_dist
import yaml
from safetensors.torch import load_file, save_file
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from lerobot_policy import optim
from lerobot_policy.augment import ImageAugmentation
from lerobot_policy.bundle import ACTION, STATE, Assets, Features, PolicyBundle
from lerobot_policy.checkpoint import config_of, load_pretrained
from lerobot_policy.collate import Collator
from lerobot_policy.configuration import PI05Config
from lerobot_policy.data import Keys, TrainingFrames
from lerobot_policy.errors import PolicyError
from lerobot_policy.fast import FastTokenizer
from lerobot_policy.memory import keep_freed_memory
from lerobot_policy.metrics import MetricsLog, plot_losses
from lerobot_policy.modeling import Batch, PI05Policy
from lerobot_policy.processor import Normalizer, pi05_prompt
from lerobot_policy.text import TextTokenizer, train_small_tokenizer

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


@dataclass
class TrainConfig:
    dataset: str
    output: str
    steps: int = 1_000
    batch_size: int = 8
    grad_accumulation: int = 1
    precision: str = "fp32"  # fp32, or bf16 autocast with fp32 weights and optimizer state
    size: str = "tiny"  # "tiny" (tests, demo) or "full" (PaliGemma 2B + Gemma 300M); ignored with `pretrained`
    pretrained: str | None = None  # a pi05 checkpoint folder (model.safetensors + config.json)
    policy: dict[str, Any] = field(default_factory=dict)  # PI05Config fields: loss weights, lr, chunk_size...
    text_tokenizer: str | None = None  # a folder or hub id; None trains a small one (tiny models only)
    text_vocab_size: int = 512
    fast_vocab_size: int = 256
    fast_fit_chunks: int = 2_000
    cameras: list[str] | None = None
    augment_images: bool = False  # openpi's crop, rotation and colour jitter (lerobot_policy.augment)
    state_key: str = STATE
    action_key: str = ACTION
    text_target: str | None = None
    num_workers: int = 0
    log_every: int = 10
    save_every: int = 500
    seed: int = 0
    resume: bool = False
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise PolicyError(f"precision {self.precision!r}: use one of {sorted(PRECISIONS)}")
        if self.size not in ("tiny", "full"):
            raise PolicyError(f"size {self.size!r}: use 'tiny' or 'full' (or give a pretrained checkpoint)")
        for name in ("steps", "batch_size", "grad_accumulation", "log_every", "save_every"):
            if getattr(self, name) < 1:
                raise PolicyError(f"{name} must be at least 1, got {getattr(self, name)}")

    @classmethod
    def from_yaml(cls, path: Path, **overrides: Any) -> TrainConfig:
        raw = yaml.safe_load(Path(path).read_text()) or {}
        unknown = set(raw) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise PolicyError(f"{path}: unknown keys {sorted(unknown)}")
        return cls(**{**raw, **{k: v for k, v in overrides.items() if v is not None}})


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Distributed:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world > 1 and not torch_dist.is_initialized():
            torch_dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return cls(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            torch_dist.barrier()


class EpochSampler(torch.utils.data.Sampler[int]):
    """Endless indices: epoch e is a permutation seeded by (seed, e), dealt out across ranks;
    `skip` samples of this rank are passed over (a resumed run starts where the last stopped)."""

    def __init__(self, size: int, *, seed: int, rank: int, world: int, skip: int = 0) -> None:
        self.size, self.seed, self.rank, self.world, self.skip = size, seed, rank, world, skip

    def __iter__(self) -> Iterator[int]:
        per_rank = self.size // self.world
        if per_rank == 0:
            raise PolicyError(f"{self.size} frames cannot be shared among {self.world} processes")
        epoch, offset = divmod(self.skip, per_rank)
        while True:
            order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
            yield from order[self.rank :: self.world][:per_rank][offset:].tolist()
            epoch, offset = epoch + 1, 0


def prepare_assets(cfg: TrainConfig, frames: TrainingFrames, model_config: PI05Config, folder: Path) -> None:
    """Stats, the text tokenizer and the FAST tokenizer, fitted to the dataset (rank 0, once)."""
    stats = frames.reader.stats
    for key in (cfg.state_key, cfg.action_key):
        if key not in stats:
            raise PolicyError(f"{frames.reader.root}/meta/stats.json has no stats for {key}")
    stats = {STATE: stats[cfg.state_key], ACTION: stats[cfg.action_key]}
    normalizer = Normalizer(
        stats, {STATE: model_config.normalization("STATE"), ACTION: model_config.normalization("ACTION")}
    )
    fast = None
    if model_config.fast_loss_weight > 0:
        chunks = frames.sample_chunks(cfg.fast_fit_chunks, seed=cfg.seed)
        fast = FastTokenizer.fit(normalizer.normalize(ACTION, torch.as_tensor(chunks)).numpy(),
                                 vocab_size=cfg.fast_vocab_size)  # fmt: skip
    if cfg.text_tokenizer:
        text = TextTokenizer.load(cfg.text_tokenizer)
    else:
        text = train_small_tokenizer(_corpus(frames, normalizer), cfg.text_vocab_size)
    check_vocabularies(model_config, text, fast, trained_here=not cfg.text_tokenizer)
    names = [frames.reader.features[k].get("names") for k in (cfg.state_key, cfg.action_key)]
    features = Features(
        cameras=frames.cameras,
        state_names=list(names[0] or [f"state_{i}" for i in range(frames.state_dim)]),
        action_names=list(names[1] or [f"action_{i}" for i in range(frames.action_dim)]),
        fps=frames.reader.fps,
    )
    Assets(stats, text, features, fast).save(folder)


def _corpus(frames: TrainingFrames, normalizer: Normalizer) -> Iterator[str]:
    """What the small tokenizer must cover: prompts as the model will see them, text targets, '|'."""
    picked = np.random.default_rng(0).choice(len(frames), size=min(len(frames), 5_000), replace=False)
    states = normalizer.normalize(STATE, torch.as_tensor(frames.states[picked]))  # the prompt's real state dims
    for index, state in zip(picked, states, strict=True):
        yield pi05_prompt(frames.reader.tasks[int(frames.task_of[index])], state.numpy())
    if frames.text_targets is not None:
        yield from map(str, frames.text_targets)
    yield "|"


def check_vocabularies(
    config: PI05Config, text: TextTokenizer, fast: FastTokenizer | None, *, trained_here: bool
) -> None:
    if len(text) > config.vocab_size:
        raise PolicyError(f"the text tokenizer has {len(text)} ids, the model's vocabulary {config.vocab_size}")
    if fast is None:
        return
    lowest = config.vocab_size - config.fast_skip_tokens - fast.config.vocab_size
    if lowest < 0 or (trained_here and lowest < len(text)):
        raise PolicyError(
            f"FAST ids [{lowest}, {config.vocab_size - 1 - config.fast_skip_tokens}] collide with the text ids "
            f"[0, {len(text) - 1}] in a vocabulary of {config.vocab_size}: lower fast_vocab_size or "
            "text_vocab_size, or raise policy.vocab_size"
        )


def model_config(cfg: TrainConfig) -> PI05Config:
    if cfg.pretrained:
        base = config_of(Path(cfg.pretrained))
        return PI05Config.from_lerobot({**base.to_lerobot(), **base.own_fields(), **cfg.policy})
    return PI05Config.tiny(**cfg.policy) if cfg.size == "tiny" else PI05Config(**cfg.policy)


def check_dimensions(config: PI05Config, frames: TrainingFrames) -> None:
    if frames.state_dim > config.max_state_dim or frames.action_dim > config.max_action_dim:
        raise PolicyError(
            f"the dataset's state ({frames.state_dim}) or action ({frames.action_dim}) does not fit the model's "
            f"max_state_dim {config.max_state_dim} / max_action_dim {config.max_action_dim}"
        )


SHAPING_FIELDS = ("paligemma_variant", "action_expert_variant", "vision_variant", "vocab_size", "chunk_size",
                  "max_state_dim", "max_action_dim", "image_resolution", "empty_cameras")  # fmt: skip


def check_same_model(saved: PI05Config, asked: PI05Config) -> None:
    """A resumed run must build the checkpoint's model: other sizes load, then fail (or worse,
    train on) at the first batch."""
    changed = [
        name for name in SHAPING_FIELDS if tuple_or_value(getattr(saved, name)) != tuple_or_value(getattr(asked, name))
    ]
    if changed:
        differences = ", ".join(f"{n} {getattr(saved, n)} (asked {getattr(asked, n)})" for n in changed)
        raise PolicyError(
            f"cannot resume: the checkpoint's model has {differences}; resume with the run's own options "
            "(lerobot_policy_train --output RUN --resume reads RUN/train_config.yaml), or start a new --output"
        )


def tuple_or_value(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def checkpoint_dir(output: Path) -> Path:
    return output / "checkpoints"


def latest_checkpoint(output: Path) -> Path:
    last = checkpoint_dir(output) / "last"
    if not last.exists():
        raise PolicyError(f"nothing to resume in {output}: {last} does not exist (start without --resume)")
    return last.resolve()


def save_checkpoint(output: Path, step: int, bundle: PolicyBundle, trainer: Trainer) -> Path:
    root = checkpoint_dir(output)
    final = root / f"{step:06d}"
    partial = root / f".{step:06d}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    bundle.save(partial / "pretrained_model")
    state = partial / "training_state"
    state.mkdir(parents=True)
    optim.save_state(state, trainer.optimizer, trainer.scheduler)
    (state / "training_step.json").write_text(json.dumps({"step": step}))
    save_file({"torch": torch.get_rng_state()}, str(state / "rng_state.safetensors"))
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    link = root / ".last.partial"
    link.unlink(missing_ok=True)
    link.symlink_to(final.name)
    link.replace(root / "last")
    return final


@dataclass
class Trainer:
    policy: PI05Policy
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    module: torch.nn.Module  # the policy's model, wrapped for DDP when distributed
    start: int  # the step the run starts after (0, or the checkpoint's)


def _device(cfg: TrainConfig, dist: Distributed) -> torch.device:
    if cfg.device != "auto":
        return torch.device(cfg.device)
    return torch.device(f"cuda:{dist.local_rank}" if torch.cuda.is_available() else "cpu")


def _policy(cfg: TrainConfig, config: PI05Config, resume_from: Path | None) -> PI05Policy:
    torch.manual_seed(cfg.seed)
    if resume_from is not None:
        policy = load_pretrained(resume_from / "pretrained_model", dtype="float32")
        check_same_model(policy.config, config)
    elif cfg.pretrained:
        policy = load_pretrained(Path(cfg.pretrained), dtype="float32")
    else:
        policy = PI05Policy(config)
    policy.config = policy.model.config = config  # loss weights and schedule from this run
    policy.model.paligemma_with_expert.gemma_expert.lm_head.requires_grad_(False)  # never used by pi05
    return policy


def _trainer(cfg: TrainConfig, policy: PI05Policy, resume_from: Path | None, dist: Distributed) -> Trainer:
    optimizer = optim.make_optimizer(policy, policy.config)
    scheduler = optim.make_scheduler(optimizer, policy.config, cfg.steps)
    start = 0
    if resume_from is not None:
        state = resume_from / "training_state"
        optim.load_state(state, optimizer, scheduler)
        start = json.loads((state / "training_step.json").read_text())["step"]
        torch.set_rng_state(load_file(str(state / "rng_state.safetensors"))["torch"])
    if start >= cfg.steps:
        raise PolicyError(f"the checkpoint is at step {start}: raise steps above it to train further")
    module: torch.nn.Module = policy.model
    if dist.world > 1:
        device = next(policy.parameters()).device
        module = DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True
        )
    return Trainer(policy, optimizer, scheduler, module, start)


def train(cfg: TrainConfig) -> Path:
    """Runs the training; returns the last checkpoint folder."""
    keep_freed_memory()
    dist, output = Distributed.from_env(), Path(cfg.output)
    device = _device(cfg, dist)
    config = model_config(cfg)
    keys = Keys(cfg.state_key, cfg.action_key, tuple(cfg.cameras) if cfg.cameras else None, cfg.text_target)
    frames = TrainingFrames(Path(cfg.dataset), chunk_size=config.chunk_size, keys=keys)
    check_dimensions(config, frames)
    resume_from = latest_checkpoint(output) if cfg.resume else None
    if resume_from is None and checkpoint_dir(output).exists():
        raise PolicyError(f"{output} already holds a run: continue it with --resume, or give another --output")
    if dist.main:
        output.mkdir(parents=True, exist_ok=True)
        (output / "train_config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
        if resume_from is None:
            prepare_assets(cfg, frames, config, output / "assets")
    dist.barrier()
    assets = Assets.load(output / "assets")
    policy = _policy(cfg, config, resume_from).to(device)
    trainer = _trainer(cfg, policy, resume_from, dist)
    per_step = cfg.batch_size * cfg.grad_accumulation
    loader = torch.utils.data.DataLoader(
        frames, batch_size=cfg.batch_size, num_workers=cfg.num_workers, generator=torch.Generator(),
        sampler=EpochSampler(len(frames), seed=cfg.seed, rank=dist.rank, world=dist.world,
                             skip=trainer.start * per_step),
        collate_fn=Collator(
            config, assets.normalizer(config), assets.text, assets.fast, _fast_length(assets, frames, config),
            augment=ImageAugmentation.for_cameras(frames.cameras) if cfg.augment_images else None,
        ),
        persistent_workers=cfg.num_workers > 0,
    )  # fmt: skip
    metrics = (
        MetricsLog(output / "metrics.jsonl", resume_step=trainer.start if resume_from else None) if dist.main else None
    )
    bundle, batches, last = PolicyBundle(policy, assets), iter(loader), resume_from
    bar = tqdm(total=cfg.steps, initial=trainer.start, disable=not (dist.main and cfg.progress), unit="step")
    window: dict[str, list[float]] = {}
    window_start = time.perf_counter()
    for step in range(trainer.start + 1, cfg.steps + 1):
        for name, value in _step(trainer, batches, cfg, device).items():
            window.setdefault(name, []).append(value)
        bar.update(1)
        bar.set_postfix(loss=f"{window['loss'][-1]:.4f}")
        if metrics is not None and (step % cfg.log_every == 0 or step == cfg.steps):  # the main process
            rate = len(window["loss"]) * per_step * dist.world / (time.perf_counter() - window_start)
            metrics.write({"step": step, **{k: float(np.mean(v)) for k, v in window.items()},
                           "lr": trainer.scheduler.get_last_lr()[0], "samples_per_s": rate})  # fmt: skip
            window, window_start = {}, time.perf_counter()
        if step % cfg.save_every == 0 or step == cfg.steps:
            if metrics is not None:
                last = save_checkpoint(output, step, bundle, trainer)
                plot_losses(metrics.read(), output / "loss_curve.png")
            dist.barrier()
    bar.close()
    if dist.world > 1:
        torch_dist.destroy_process_group()
    if not dist.main:
        return checkpoint_dir(output) / "last"
    assert last is not None  # the last step saves
    return last


def _fast_length(assets: Assets, frames: TrainingFrames, config: PI05Config) -> int:
    """Room for the longest FAST sequence of sampled chunks, plus a margin and the terminator."""
    if assets.fast is None:
        return 0
    chunks = assets.normalizer(config).normalize(ACTION, torch.as_tensor(frames.sample_chunks(200))).numpy()
    longest = max(len(assets.fast.encode(chunk)) for chunk in chunks)
    return int(longest * 1.25) + 2 + len(assets.text.ids("|"))


def _step(trainer: Trainer, batches: Iterator[Batch], cfg: TrainConfig, device: torch.device) -> dict[str, float]:
    """One optimizer step over `grad_accumulation` micro-batches; returns the mean losses and
    the gradient norm before clipping."""
    totals: dict[str, float] = {}
    for micro in range(cfg.grad_accumulation):
        batch = next(batches).to(device)
        sync = micro == cfg.grad_accumulation - 1 or not hasattr(trainer.module, "no_sync")
        with (
            nullcontext() if sync else cast(DistributedDataParallel, trainer.module).no_sync(),
            torch.autocast(device.type, dtype=PRECISIONS[cfg.precision], enabled=cfg.precision != "fp32"),
        ):
            losses = trainer.module(batch)
        (losses["loss"] / cfg.grad_accumulation).backward()
        for name, value in losses.items():
            totals[name] = totals.get(name, 0.0) + float(value.detach()) / cfg.grad_accumulation
    params = [p for p in trainer.policy.parameters() if p.grad is not None]
    norm = torch.nn.utils.clip_grad_norm_(params, trainer.policy.config.optimizer_grad_clip_norm)
    if not torch.isfinite(norm):
        raise PolicyError(
            f"the gradient norm is {float(norm)} at a loss of {totals['loss']}: training diverged; "
            "lower the learning rate or use fp32"
        )
    trainer.optimizer.step()
    trainer.scheduler.step()
    trainer.optimizer.zero_grad(set_to_none=True)
    return {**totals, "grad_norm": float(norm)}
