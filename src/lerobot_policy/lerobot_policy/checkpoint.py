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
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from lerobot_policy.configuration import GEMMA, SIGLIP, PI05Config
from lerobot_policy.errors import PolicyError
from lerobot_policy.modeling import PI05Policy

WEIGHTS, CONFIG, OWN = "model.safetensors", "config.json", "pi05_fields.json"
PICKLES = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")
log = logging.getLogger(__name__)


class CheckpointError(PolicyError):
    """A checkpoint folder is missing files or does not fit the model."""


VISION = ".vision_tower."
VISION_LEVEL = ".vision_tower.vision_model."
EMBED = "model.paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight"
HEAD = "model.paligemma_with_expert.paligemma.lm_head.weight"
OLD_NAMES = {"action_time_mlp_in.": "time_mlp_in.", "action_time_mlp_out.": "time_mlp_out."}


def save_pretrained(policy: PI05Policy, folder: Path) -> None:
    """LeRobot's two files (config.json holds LeRobot's fields only, so its strict parser
    reads it) and the model's other fields in pi05_fields.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {lerobot_key(key): value.detach().contiguous() for key, value in policy.state_dict().items()}
    save_file(tensors, str(folder / WEIGHTS), metadata={"format": "pt"})
    (folder / CONFIG).write_text(json.dumps(policy.config.to_lerobot(), indent=2))
    (folder / OWN).write_text(json.dumps(policy.config.own_fields(), indent=2))


def read_config(folder: Path) -> dict:
    """config.json with pi05_fields.json over it (absent in LeRobot's checkpoints)."""
    folder = Path(folder)
    if not (folder / CONFIG).exists():
        raise CheckpointError(f"{folder} has no {CONFIG}: a pi05 checkpoint holds {WEIGHTS} and {CONFIG}")
    raw = {}
    for name in (CONFIG, OWN):
        if (folder / name).exists():
            try:
                raw.update(json.loads((folder / name).read_text()))
            except json.JSONDecodeError as exc:
                raise CheckpointError(f"{folder / name} is not JSON: {exc}") from None
    if raw.get("type", "pi05") != "pi05":
        raise CheckpointError(
            f"{folder / CONFIG} is a {raw.get('type')!r} policy: this suite runs pi05 checkpoints only "
            '(type "pi05"); use LeRobot itself for other policy types'
        )
    return raw


def load_pretrained(folder: Path, *, dtype: str | None = None) -> PI05Policy:
    """The policy of a checkpoint folder, in `dtype` ("float32" or "bfloat16"; default: the
    config's `dtype`, as LeRobot loads it)."""
    folder = Path(folder)
    policy = PI05Policy(config_of(folder))
    load_state(policy, load_file(str(folder / WEIGHTS)), source=str(folder))
    return policy.set_precision(dtype or policy.config.dtype)


def config_of(folder: Path) -> PI05Config:
    """The checkpoint's config; the sizes LeRobot never writes (SigLIP's, the vocabulary) read
    from the weights' shapes, without loading them."""
    folder = Path(folder)
    if not (folder / WEIGHTS).exists():
        pickles = sorted(p.name for pattern in PICKLES for p in folder.glob(pattern))
        fix = (
            f"; it holds only pickle files ({', '.join(pickles)}), which are never loaded because unpickling runs "
            "code: convert them to safetensors (safetensors.torch.save_file(torch.load(f), 'model.safetensors') "
            "where you trust the file)"
            if pickles
            else ""
        )
        raise CheckpointError(f"{folder} has no {WEIGHTS}: a pi05 checkpoint holds {WEIGHTS} and {CONFIG}{fix}")
    raw = read_config(folder)
    with safe_open(str(folder / WEIGHTS), framework="pt") as weights:
        shapes = {key: tuple(weights.get_slice(key).get_shape()) for key in weights.keys()}  # noqa: SIM118
    if "vision_variant" not in raw:  # LeRobot never writes it: its SigLIP size is fixed by PaliGemma
        raw["vision_variant"] = vision_variant_of(shapes, folder)
    if "vocab_size" not in raw:  # nor this: 257152 in LeRobot's code
        raw["vocab_size"] = vocab_size_of(shapes, folder)
    return PI05Config.from_lerobot(raw)


def vocab_size_of(shapes: dict[str, tuple[int, ...]], folder: Path) -> int:
    tables = ("embed_tokens.weight", "paligemma.lm_head.weight")
    rows = [shape[0] for key, shape in shapes.items() if key.endswith(tables)]
    if not rows:
        raise CheckpointError(f"{folder / WEIGHTS} has neither embed_tokens nor lm_head: it is not a pi05 checkpoint")
    return int(rows[0])


def vision_variant_of(shapes: dict[str, tuple[int, ...]], folder: Path) -> str:
    """The SigLIP size whose width, depth and patch the checkpoint's vision weights have."""
    patch = next((v for k, v in shapes.items() if "vision_tower." in k and k.endswith("patch_embedding.weight")), None)
    if patch is None:
        raise CheckpointError(f"{folder / WEIGHTS} has no SigLIP patch embedding: it is not a pi05 checkpoint")
    layers = {k.split(".encoder.layers.")[1].split(".")[0] for k in shapes if VISION in k and ".encoder.layers." in k}
    width, depth, size = patch[0], len(layers), patch[-1]
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
        config = policy.config
        raise CheckpointError(
            f"{source} does not fit the pi05 model its config describes (paligemma_variant "
            f"{config.paligemma_variant}, action_expert_variant {config.action_expert_variant}, vision_variant "
            f"{config.vision_variant}, max_action_dim {config.max_action_dim}): " + "; ".join(report) + ". "
            f"Name the sizes the weights were made with in {CONFIG} (known: {sorted(GEMMA)}), or give the "
            "checkpoint these sizes belong to"
        )
    policy.load_state_dict(state, strict=True)


def _sample(items: list[str], shown: int = 5) -> str:
    return ", ".join(items[:shown]) + (f", ... ({len(items) - shown} more)" if len(items) > shown else "")
