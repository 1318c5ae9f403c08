"""Everything a trained policy needs to act, in one folder: what training saves and the
policy node loads.

    model.safetensors, config.json   the pi05 checkpoint (LeRobot's layout)
    normalization.safetensors        q01/q99 (and mean/std) per feature, keys "<feature>.<stat>"
    text_tokenizer/                  tokenizer.json (+ config), loaded with AutoTokenizer
    fast/                            the FAST tokenizer, when trained with the FAST loss
    features.json                    cameras, state and action names and sizes

A checkpoint folder written by LeRobot (lerobot-train's pretrained_model) loads too: its
stats from the saved normalizer step, its cameras and sizes from config.json, the text
tokenizer given separately (LeRobot's pi05 reads PaliGemma's from the hub).

Nothing in it executes code when loaded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from lerobot_policy.checkpoint import load_pretrained, save_pretrained
from lerobot_policy.configuration import PI05Config
from lerobot_policy.errors import PolicyError
from lerobot_policy.fast import FastTokenizer
from lerobot_policy.modeling import PI05Policy
from lerobot_policy.processor import Normalizer
from lerobot_policy.text import PALIGEMMA, TextTokenizer

NORMALIZATION, FEATURES, TEXT_DIR, FAST_DIR = "normalization.safetensors", "features.json", "text_tokenizer", "fast"
LEROBOT_NORMALIZER = "policy_preprocessor_step_*_normalizer_processor.safetensors"
STATE, ACTION, CAMERA_PREFIX = "observation.state", "action", "observation.images."


@dataclass(frozen=True)
class Features:
    cameras: list[str]
    state_names: list[str]
    action_names: list[str]
    fps: int = 0  # the dataset's frame rate: one chunk step per frame (0: not recorded)


@dataclass
class Assets:
    """What a policy reads its inputs and writes its outputs with, fitted to one dataset."""

    stats: dict[str, dict[str, np.ndarray]]
    text: TextTokenizer
    features: Features
    fast: FastTokenizer | None = None

    def normalizer(self, config: PI05Config) -> Normalizer:
        """State and action normalization in the modes of the policy's normalization_mapping."""
        return Normalizer(self.stats, {STATE: config.normalization("STATE"), ACTION: config.normalization("ACTION")})

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file(
            {f"{feature}.{stat}": torch.as_tensor(np.asarray(values, dtype=np.float32))
             for feature, stats in self.stats.items() for stat, values in stats.items()},
            str(folder / NORMALIZATION),
        )  # fmt: skip
        self.text.save(folder / TEXT_DIR)
        if self.fast is not None:
            self.fast.save(folder / FAST_DIR)
        (folder / FEATURES).write_text(json.dumps(asdict(self.features), indent=2))

    @classmethod
    def load(cls, folder: Path) -> Assets:
        folder = Path(folder)
        for name in (NORMALIZATION, FEATURES, TEXT_DIR):
            if not (folder / name).exists():
                raise PolicyError(
                    f"{folder} has no {name}: a trained policy folder holds the checkpoint, {NORMALIZATION}, "
                    f"{FEATURES} and {TEXT_DIR}/ (as the training command writes it)"
                )
        features = Features(**json.loads((folder / FEATURES).read_text()))
        fast = FastTokenizer.load(folder / FAST_DIR) if (folder / FAST_DIR).exists() else None
        return cls(_read_stats(folder / NORMALIZATION), TextTokenizer.load(folder / TEXT_DIR), features, fast)

    @classmethod
    def from_lerobot(cls, folder: Path, text: TextTokenizer) -> Assets:
        """A LeRobot checkpoint folder's: stats from its saved normalizer step, cameras and
        sizes from config.json (LeRobot keeps no joint names: they are positional)."""
        folder = Path(folder)
        saved = sorted(folder.glob(LEROBOT_NORMALIZER))
        if not saved:
            raise PolicyError(
                f"{folder} holds no normalization stats: neither {NORMALIZATION} (this suite's) nor "
                f"{LEROBOT_NORMALIZER.replace('*', 'N')} (what lerobot-train saves beside the weights)"
            )
        config = json.loads((folder / "config.json").read_text())
        inputs, outputs = config.get("input_features") or {}, config.get("output_features") or {}
        cameras = [key for key, f in inputs.items() if f.get("type") == "VISUAL" and "empty_camera" not in key]
        state_dim = (inputs.get(STATE) or {}).get("shape", [0])[0]
        action_dim = (outputs.get(ACTION) or {}).get("shape", [0])[0]
        if not cameras or not state_dim or not action_dim:
            raise PolicyError(
                f"{folder / 'config.json'} lacks input_features/output_features with cameras, {STATE} and "
                f"{ACTION}: it was not saved by lerobot-train"
            )
        features = Features(
            cameras, [f"state_{i}" for i in range(state_dim)], [f"action_{i}" for i in range(action_dim)]
        )
        return cls(_read_stats(saved[-1]), text, features)

    def lerobot_features(self, config: PI05Config) -> dict[str, dict]:
        """input_features and output_features as LeRobot's config.json holds them."""
        image = {"type": "VISUAL", "shape": [3, *config.image_resolution]}
        inputs = {camera: image for camera in self.features.cameras}
        inputs[STATE] = {"type": "STATE", "shape": [len(self.features.state_names)]}
        outputs = {ACTION: {"type": "ACTION", "shape": [len(self.features.action_names)]}}
        return {"input_features": inputs, "output_features": outputs}


def _read_stats(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """'feature.stat' tensors (this suite's and LeRobot's layout) -> {feature: {stat: values}}."""
    stats: dict[str, dict[str, np.ndarray]] = {}
    for key, value in load_file(str(path)).items():
        feature, stat = key.rsplit(".", 1)
        stats.setdefault(feature, {})[stat] = value.numpy()
    return stats


@dataclass
class PolicyBundle:
    policy: PI05Policy
    assets: Assets

    def save(self, folder: Path) -> None:
        """The policy folder; its config.json carries the features LeRobot needs to run it."""
        self.policy.config.extra.update(self.assets.lerobot_features(self.policy.config))
        save_pretrained(self.policy, folder)
        self.assets.save(folder)

    @classmethod
    def load(cls, folder: Path, *, dtype: str | None = None, text_tokenizer: str | None = None) -> PolicyBundle:
        """A policy folder trained here, or a LeRobot checkpoint folder; `text_tokenizer` (a
        folder or hub id) replaces the folder's own, and is needed for LeRobot's."""
        folder = Path(folder)
        if not (folder / NORMALIZATION).exists() and any(folder.glob(LEROBOT_NORMALIZER)):
            assets = Assets.from_lerobot(folder, TextTokenizer.load(text_tokenizer or PALIGEMMA))
        else:
            assets = Assets.load(folder)  # first: its error names every file a policy folder needs
            if text_tokenizer:
                assets.text = TextTokenizer.load(text_tokenizer)
        return cls(load_pretrained(folder, dtype=dtype), assets)
