"""What the pi0.5 model is fed: normalized state and actions, padded images, the prompt.

Formulas as LeRobot's pi05 processor and openpi use them, so a pi05 checkpoint sees here
exactly the inputs it was trained on: quantile normalization to [-1, 1] (q01/q99), images
resized with padding to 224 without distortion in [-1, 1] (padding -1), the state
discretized into 256 bins inside the prompt "Task: ..., State: ...;\\nAction: ".
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from lerobot_policy.errors import PolicyError

EPS = 1e-8


class QuantileNormalizer:
    """Per-feature (x - q01) / (q99 - q01) scaled to [-1, 1], and back."""

    def __init__(self, stats: dict[str, dict[str, np.ndarray]], features: list[str]) -> None:
        self.bounds = {}
        for feature in features:
            if feature not in stats or "q01" not in stats[feature] or "q99" not in stats[feature]:
                raise PolicyError(
                    f"quantile normalization needs q01 and q99 stats for {feature}; "
                    "the dataset's meta/stats.json lacks them (datasets converted by this suite have them)"
                )
            low = torch.as_tensor(np.asarray(stats[feature]["q01"]), dtype=torch.float32)
            high = torch.as_tensor(np.asarray(stats[feature]["q99"]), dtype=torch.float32)
            span = high - low
            self.bounds[feature] = (low, torch.where(span == 0, torch.tensor(EPS), span))

    def normalize(self, feature: str, values: torch.Tensor) -> torch.Tensor:
        low, span = self.bounds[feature]
        return 2.0 * (values - low) / span - 1.0

    def unnormalize(self, feature: str, values: torch.Tensor) -> torch.Tensor:
        low, span = self.bounds[feature]
        return (values + 1.0) * span / 2.0 + low


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
