"""pi05 checkpoints as LeRobot writes them: `model.safetensors` + `config.json`.

Loading executes nothing (safetensors and JSON only), accepts keys with or without the
`model.` prefix, and is strict: a missing, unexpected or mis-shaped key is an error that
lists them. The expert's unused `lm_head` is present in converted checkpoints and kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from lerobot_policy.configuration import PI05Config
from lerobot_policy.errors import PolicyError
from lerobot_policy.modeling import PI05Policy

WEIGHTS, CONFIG = "model.safetensors", "config.json"


class CheckpointError(PolicyError):
    """A checkpoint folder is missing files or does not fit the model."""


def save_pretrained(policy: PI05Policy, folder: Path) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {key: value.detach().contiguous() for key, value in policy.state_dict().items()}
    save_file(tensors, str(folder / WEIGHTS), metadata={"format": "pt"})
    (folder / CONFIG).write_text(json.dumps(policy.config.to_lerobot(), indent=2))


def load_pretrained(folder: Path, *, dtype: torch.dtype = torch.float32) -> PI05Policy:
    folder = Path(folder)
    for name in (WEIGHTS, CONFIG):
        if not (folder / name).exists():
            raise CheckpointError(f"{folder} has no {name}: a pi05 checkpoint holds {WEIGHTS} and {CONFIG}")
    try:
        config = PI05Config.from_lerobot(json.loads((folder / CONFIG).read_text()))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{folder / CONFIG} is not JSON: {exc}") from None
    policy = PI05Policy(config)
    load_state(policy, load_file(str(folder / WEIGHTS)), source=str(folder))
    return policy.to(dtype)


def load_state(policy: PI05Policy, state: dict[str, torch.Tensor], *, source: str) -> None:
    expected = policy.state_dict()
    state = {
        key if key in expected or f"model.{key}" not in expected else f"model.{key}": value
        for key, value in state.items()
    }
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f"{k}: {tuple(state[k].shape)} in the checkpoint, {tuple(expected[k].shape)} in the model"
              for k in sorted(set(expected) & set(state)) if state[k].shape != expected[k].shape]  # fmt: skip
    if missing or unexpected or shapes:
        report = [f"{len(missing)} missing: {_sample(missing)}"] if missing else []
        report += [f"{len(unexpected)} unexpected: {_sample(unexpected)}"] if unexpected else []
        report += [f"{len(shapes)} of another shape: {_sample(shapes)}"] if shapes else []
        raise CheckpointError(
            f"{source} does not fit a {policy.config.paligemma_variant} pi05 model: " + "; ".join(report)
        )
    policy.load_state_dict(state, strict=True)


def _sample(items: list[str], shown: int = 5) -> str:
    return ", ".join(items[:shown]) + (f", ... ({len(items) - shown} more)" if len(items) > shown else "")
