"""AdamW with LeRobot's cosine-with-warm-up schedule, and their state on disk without pickle.

The schedule is LeRobot's CosineDecayWithWarmupSchedulerConfig: linear warm-up from
1/(warmup+1) of the peak, then a cosine from the peak to `decay_lr` over `decay_steps`, both
shrunk in proportion when the run is shorter than `decay_steps`. Optimizer state goes to
safetensors (tensors) plus JSON (param groups, schedule position), as LeRobot saves it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch.optim.lr_scheduler import LambdaLR

from lerobot_policy.configuration import PI05Config
from lerobot_policy.errors import PolicyError

STATE_FILE, GROUPS_FILE, SCHEDULER_FILE = "optimizer_state.safetensors", "optimizer_param_groups.json", "scheduler.json"


def make_optimizer(model: torch.nn.Module, config: PI05Config) -> torch.optim.AdamW:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(
        params, lr=config.optimizer_lr, betas=config.optimizer_betas, eps=config.optimizer_eps,
        weight_decay=config.optimizer_weight_decay,
    )  # fmt: skip


def cosine_with_warmup(config: PI05Config, total_steps: int) -> Callable[[int], float]:
    """step -> learning-rate multiplier."""
    warmup, decay = config.scheduler_warmup_steps, config.scheduler_decay_steps
    if total_steps < decay:  # LeRobot's auto-scaling for short runs
        warmup, decay = int(warmup * total_steps / decay), total_steps
    floor = config.scheduler_decay_lr / config.optimizer_lr

    def multiplier(step: int) -> float:
        if step < warmup:
            start = 1.0 / (warmup + 1)
            return start + (1.0 - start) * step / warmup
        progress = min(step, decay) / max(decay, 1)
        return (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)) + floor

    return multiplier


def make_scheduler(optimizer: torch.optim.Optimizer, config: PI05Config, total_steps: int) -> LambdaLR:
    return LambdaLR(optimizer, cosine_with_warmup(config, total_steps))


def save_state(folder: Path, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler) -> None:
    state = optimizer.state_dict()
    tensors = {
        f"{param}.{name}": value.detach().contiguous()
        for param, values in state["state"].items()
        for name, value in values.items()
    }
    save_file(tensors, str(folder / STATE_FILE))
    (folder / GROUPS_FILE).write_text(json.dumps(state["param_groups"], indent=2))
    schedule = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
    (folder / SCHEDULER_FILE).write_text(json.dumps(schedule, indent=2))


def load_state(folder: Path, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler) -> None:
    try:
        tensors = load_file(str(folder / STATE_FILE))
        groups = json.loads((folder / GROUPS_FILE).read_text())
        schedule = json.loads((folder / SCHEDULER_FILE).read_text())
    except FileNotFoundError as exc:
        raise PolicyError(f"cannot resume: {exc.filename} is missing from {folder}") from None
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        param, name = key.split(".", 1)
        state.setdefault(int(param), {})[name] = value
    for group in groups:
        group["betas"] = tuple(group["betas"])
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except ValueError as exc:
        raise PolicyError(f"cannot resume from {folder}: the optimizer state does not fit the model ({exc})") from None
    scheduler.load_state_dict({**scheduler.state_dict(), **schedule})
