"""Everything a trained policy needs to act, in one folder: what training saves and the
policy node loads.

    model.safetensors, config.json   the pi05 checkpoint (LeRobot's layout)
    normalization.safetensors        q01/q99 (and mean/std) per feature, keys "<feature>.<stat>"
    text_tokenizer/                  tokenizer.json (+ config), loaded with AutoTokenizer
    fast/                            the FAST tokenizer, when trained with the FAST loss
    features.json                    cameras, state and action names and sizes

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
from lerobot_policy.text import TextTokenizer

NORMALIZATION, FEATURES, TEXT_DIR, FAST_DIR = "normalization.safetensors", "features.json", "text_tokenizer", "fast"
STATE, ACTION = "observation.state", "action"


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
        stats: dict[str, dict[str, np.ndarray]] = {}
        for key, value in load_file(str(folder / NORMALIZATION)).items():
            feature, stat = key.rsplit(".", 1)
            stats.setdefault(feature, {})[stat] = value.numpy()
        features = Features(**json.loads((folder / FEATURES).read_text()))
        fast = FastTokenizer.load(folder / FAST_DIR) if (folder / FAST_DIR).exists() else None
        return cls(stats, TextTokenizer.load(folder / TEXT_DIR), features, fast)


@dataclass
class PolicyBundle:
    policy: PI05Policy
    assets: Assets

    def save(self, folder: Path) -> None:
        save_pretrained(self.policy, folder)
        self.assets.save(folder)

    @classmethod
    def load(cls, folder: Path, *, dtype: str | None = None) -> PolicyBundle:
        assets = Assets.load(folder)  # first: its error names every file a policy folder needs
        return cls(load_pretrained(folder, dtype=dtype), assets)
