"""What the pi0.5 model is fed: normalized state and actions, padded images, the prompt.

Formulas as LeRobot's pi05 processor and openpi use them, so a pi05 checkpoint sees here
exactly the inputs it was trained on: normalization as its config's normalization_mapping
says (quantiles to [-1, 1] with q01/q99 by default, as LeRobot's normalizer computes each
mode), images
resized with padding to 224 without distortion in [-1, 1] (padding -1), the state
discretized into 256 bins inside the prompt "Task: ..., State: ...;\\nAction: ".
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from lerobot_policy.errors import PolicyError

EPS = 1e-8


BOUNDS = {"QUANTILES": ("q01", "q99"), "QUANTILE10": ("q10", "q90"), "MIN_MAX": ("min", "max")}


class Normalizer:
    """Per feature, LeRobot's normalization: bounds (quantiles, min/max) scaled to [-1, 1],
    mean/std, or identity; and back. pi05 uses quantiles unless its config says otherwise."""

    def __init__(self, stats: dict[str, dict[str, np.ndarray]], modes: dict[str, str]) -> None:
        self.modes = dict(modes)
        self.params: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for feature, mode in modes.items():
            if mode == "IDENTITY":
                continue
            names = BOUNDS.get(mode, ("mean", "std"))
            if feature not in stats or any(name not in stats[feature] for name in names):
                raise PolicyError(
                    f"{mode} normalization needs {list(names)} stats for {feature}; the dataset's meta/stats.json "
                    "lacks them (datasets converted by this suite have every one)"
                )
            first, second = (torch.as_tensor(np.asarray(stats[feature][n]), dtype=torch.float32) for n in names)
            if mode in BOUNDS:
                span = second - first
                self.params[feature] = (first, torch.where(span == 0, torch.tensor(EPS), span))
            else:
                self.params[feature] = (first, second)

    def normalize(self, feature: str, values: torch.Tensor) -> torch.Tensor:
        mode = self.modes[feature]
        if mode == "IDENTITY":
            return values
        a, b = self.params[feature]
        return 2.0 * (values - a) / b - 1.0 if mode in BOUNDS else (values - a) / (b + EPS)

    def unnormalize(self, feature: str, values: torch.Tensor) -> torch.Tensor:
        mode = self.modes[feature]
        if mode == "IDENTITY":
            return values
        a, b = self.params[feature]
        return (values + 1.0) * b / 2.0 + a if mode in BOUNDS else values * b + a


def resize_with_pad(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, C, H, W) float in [-1, 1] -> (B, C, height, width): scaled to fit without distortion,
    centred, padded with -1 (black)."""
    _, _, current_h, current_w = images.shape
    ratio = max(current_w / width, current_h / height)
    resized_h, resized_w = int(current_h / ratio), int(current_w / ratio)
    resized = F.interpolate(images, size=(resized_h, resized_w), mode="bilinear", align_corners=False).clamp(-1.0, 1.0)
    top, extra_h = divmod(height - resized_h, 2)
    left, extra_w = divmod(width - resized_w, 2)
    return F.pad(resized, (left, left + extra_w, top, top + extra_h), mode="constant", value=-1.0)


def preprocess_images(images: torch.Tensor, size: int = 224) -> torch.Tensor:
    """(B, C, H, W) in [0, 1] (as LeRobot datasets give them) -> the model's (B, C, size, size)."""
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    return resize_with_pad(images * 2.0 - 1.0, size, size)


def pad_vector(values: torch.Tensor, dim: int) -> torch.Tensor:
    """Zero-pad the last dimension to `dim` (state and actions are padded to 32 in pi05)."""
    if values.shape[-1] > dim:
        raise PolicyError(
            f"{values.shape[-1]} dimensions do not fit the model's {dim}: raise max_state_dim/max_action_dim"
        )
    return F.pad(values, (0, dim - values.shape[-1]))


def discretize_state(normalized: np.ndarray, bins: int = 256) -> np.ndarray:
    """[-1, 1] values -> bin indices 0..bins-1 (openpi's PaligemmaTokenizer)."""
    return np.digitize(normalized, bins=np.linspace(-1, 1, bins + 1)[:-1]) - 1


def pi05_prompt(task: str, normalized_state: np.ndarray) -> str:
    cleaned = task.strip().replace("_", " ").replace("\n", " ")
    state = " ".join(map(str, discretize_state(np.asarray(normalized_state))))
    return f"Task: {cleaned}, State: {state};\nAction: "
