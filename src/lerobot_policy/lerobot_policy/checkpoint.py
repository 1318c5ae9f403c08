"""pi05 checkpoints as LeRobot writes them: `model.safetensors` + `config.json`.

Loading executes nothing (safetensors and JSON only) and is strict: a missing, unexpected or
mis-shaped key is an error that lists them. What LeRobot accepts is accepted too, each fix
logged: keys with or without the `model.` prefix; the SigLIP tower with or without the
`vision_model` level (transformers up to 5.5, which LeRobot 0.6 uses, has it; later ones do
not); `lm_head` without `embed_tokens` (the published pi05_base: PaliGemma ties them, so the
embedding is filled from the head); older `action_time_mlp_*` names for `time_mlp_*`; pi0's
`state_proj`, which pi05 has no use for. Checkpoints are written in LeRobot's layout (with
the `vision_model` level) whatever transformers is installed. The expert's unused `lm_head`
is present in converted checkpoints and kept.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from lerobot_policy.configuration import SIGLIP, PI05Config
from lerobot_policy.errors import PolicyError
from lerobot_policy.modeling import PI05Policy

WEIGHTS, CONFIG = "model.safetensors", "config.json"
log = logging.getLogger(__name__)


class CheckpointError(PolicyError):
    """A checkpoint folder is missing files or does not fit the model."""


VISION = ".vision_tower."
VISION_LEVEL = ".vision_tower.vision_model."
EMBED = "model.paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight"
HEAD = "model.paligemma_with_expert.paligemma.lm_head.weight"
OLD_NAMES = {"action_time_mlp_in.": "time_mlp_in.", "action_time_mlp_out.": "time_mlp_out."}


def save_pretrained(policy: PI05Policy, folder: Path) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {lerobot_key(key): value.detach().contiguous() for key, value in policy.state_dict().items()}
    save_file(tensors, str(folder / WEIGHTS), metadata={"format": "pt"})
    (folder / CONFIG).write_text(json.dumps(policy.config.to_lerobot(), indent=2))


def load_pretrained(folder: Path, *, dtype: str | None = None) -> PI05Policy:
    """The policy of a checkpoint folder, in `dtype` ("float32" or "bfloat16"; default: the
    config's `dtype`, as LeRobot loads it)."""
    folder = Path(folder)
    for name in (WEIGHTS, CONFIG):
        if not (folder / name).exists():
            raise CheckpointError(f"{folder} has no {name}: a pi05 checkpoint holds {WEIGHTS} and {CONFIG}")
    try:
        raw = json.loads((folder / CONFIG).read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{folder / CONFIG} is not JSON: {exc}") from None
    state = load_file(str(folder / WEIGHTS))
    if "vision_variant" not in raw:  # LeRobot never writes it: its SigLIP size is fixed by PaliGemma
        raw = {**raw, "vision_variant": vision_variant_of(state, folder)}
    policy = PI05Policy(PI05Config.from_lerobot(raw))
    load_state(policy, state, source=str(folder))
    return policy.set_precision(dtype or policy.config.dtype)


def vision_variant_of(state: dict[str, torch.Tensor], folder: Path) -> str:
    """The SigLIP size whose width, depth and patch the checkpoint's vision weights have."""
    patch = next((v for k, v in state.items() if "vision_tower." in k and k.endswith("patch_embedding.weight")), None)
    if patch is None:
        raise CheckpointError(f"{folder / WEIGHTS} has no SigLIP patch embedding: it is not a pi05 checkpoint")
    layers = {
        k.split(".encoder.layers.")[1].split(".")[0] for k in state if ".vision_tower." in k and ".encoder.layers." in k
    }
    width, depth, size = patch.shape[0], len(layers), patch.shape[-1]
    matches = [name for name, v in SIGLIP.items() if (v.hidden, v.depth, v.patch) == (width, depth, size)]
    if len(matches) != 1:
        raise CheckpointError(
            f"{folder / CONFIG} names no vision_variant and the weights' SigLIP (width {width}, {depth} layers, "
            f'{size} px patches) is none of {sorted(SIGLIP)}: add "vision_variant" to config.json'
        )
    log.info("%s: vision_variant %s, from the weights' shapes", folder, matches[0])
    return matches[0]


def lerobot_key(key: str) -> str:
    """A key of this model as LeRobot writes it: the SigLIP tower keeps its `vision_model` level."""
    return key.replace(VISION, VISION_LEVEL, 1) if VISION in key and VISION_LEVEL not in key else key


def lerobot_compatible(state: dict[str, torch.Tensor], expected: set[str]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """A checkpoint's tensors under this model's key names, with what LeRobot fixes on load
    fixed the same way; and a line for each kind of fix made."""
    fixes: dict[str, int] = {}

    def fix(what: str) -> None:
        fixes[what] = fixes.get(what, 0) + 1

    fixed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = key if key.startswith("model.") else f"model.{key}"
        for old, new in OLD_NAMES.items():
            if name.startswith(f"model.{old}"):
                name = name.replace(old, new, 1)
                fix("older action_time_mlp_* names read as time_mlp_*")
        if name.startswith("model.state_proj."):
            fix("pi0's state_proj left out (pi05 has none)")
            continue
        if VISION_LEVEL in name and name not in expected:
            name = name.replace(VISION_LEVEL, VISION, 1)
        elif VISION in name and name not in expected and name.replace(VISION, VISION_LEVEL, 1) in expected:
            name = name.replace(VISION, VISION_LEVEL, 1)
        fixed[name] = value
    if EMBED not in fixed and HEAD in fixed and EMBED in expected:
        fixed[EMBED] = fixed[HEAD].clone()
        fix("embed_tokens filled from lm_head (tied in PaliGemma; the checkpoint carries the head only)")
    return fixed, [f"{what} ({count} tensor(s))" for what, count in fixes.items()]


def load_state(policy: PI05Policy, state: dict[str, torch.Tensor], *, source: str) -> None:
    expected = policy.state_dict()
    state, fixes = lerobot_compatible(state, set(expected))
    for line in fixes:
        log.info("%s: %s", source, line)
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
