"""Samples -> the model's Batch, with pi05's preprocessing.

State and actions are quantile-normalized with the dataset's stats and zero-padded to 32;
images are resized with padding to the model's resolution in [-1, 1]; the prompt holds the
task and the discretized padded state. FAST targets are the normalized chunk's codes mapped
into the backbone vocabulary, then the "|" separator and EOS (the prompt already ends with
"Action: "). Chunks that run past their episode are FAST-encoded as LeRobot feeds them (the
last action repeated); the flow loss skips those steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch

from lerobot_policy.augment import ImageAugmentation
from lerobot_policy.bundle import ACTION, STATE
from lerobot_policy.configuration import PI05Config
from lerobot_policy.errors import PolicyError
from lerobot_policy.fast import FastTokenizer, to_backbone_ids
from lerobot_policy.modeling import Batch
from lerobot_policy.processor import Normalizer, pad_vector, pi05_prompt, preprocess_images
from lerobot_policy.text import TextTokenizer


@dataclass
class Collator:
    config: PI05Config
    normalizer: Normalizer
    text: TextTokenizer
    fast: FastTokenizer | None = None
    fast_max_tokens: int = 64
    target_max_tokens: int = 32
    augment: ImageAugmentation | None = None  # training only: the images drawn anew per sample

    def fast_ids(self, normalized_chunk: np.ndarray) -> list[int]:
        if self.fast is None:
            raise PolicyError(
                "FAST targets need the run's FAST tokenizer (assets/fast): train with fast_loss_weight > 0"
            )
        codes = to_backbone_ids(np.asarray(self.fast.encode(normalized_chunk)), self.config.vocab_size,
                                self.config.fast_skip_tokens).tolist()  # fmt: skip
        return [*codes, *self.text.ids("|"), self.text.eos_id][: self.fast_max_tokens]

    def __call__(self, samples: list[dict[str, Any]]) -> Batch:
        cfg = self.config
        batch = observation_batch(
            cfg, self.normalizer, self.text,
            images=[s["images"] for s in samples], states=np.stack([s["state"] for s in samples]),
            tasks=[s["task"] for s in samples],
        )  # fmt: skip
        if self.augment is not None:
            batch.images = self.augment(batch.images)
        actions = self.normalizer.normalize(ACTION, torch.as_tensor(np.stack([s["actions"] for s in samples])))
        batch.actions, batch.action_dim = pad_vector(actions, cfg.max_action_dim), actions.shape[-1]
        batch.action_pad = torch.as_tensor(np.stack([s["action_pad"] for s in samples]))
        if "text_target" in samples[0] and cfg.text_loss_weight > 0:
            batch.targets, batch.targets_mask = self.text.encode_targets(
                [s["text_target"] for s in samples], self.target_max_tokens
            )
        if self.fast is not None and cfg.fast_loss_weight > 0:
            rows = [self.fast_ids(chunk.numpy()) for chunk in actions]
            batch.fast, batch.fast_mask = self.text.pad(rows, self.fast_max_tokens)
        return batch


def observation_batch(
    config: PI05Config,
    normalizer: Normalizer,
    text: TextTokenizer,
    *,
    images: list[list[np.ndarray | None]],
    states: np.ndarray,
    tasks: list[str],
) -> Batch:
    """What the model sees of one observation per sample: (H, W, 3) uint8 images per camera,
    raw states, tasks -> padded images in [-1, 1], the prompt with the discretized state: the
    robot's own state dims, not padded to max_state_dim (as LeRobot 0.6 and openpi write it).
    Cameras as LeRobot feeds them: the present ones first, then each missing one (None) and
    the config's `empty_cameras` as an all -1 image with its mask off."""
    state = normalizer.normalize(STATE, torch.as_tensor(states, dtype=torch.float32))
    prompts = [pi05_prompt(task, row.numpy()) for task, row in zip(tasks, state, strict=True)]
    prompt, prompt_mask = text.encode(prompts, config.tokenizer_max_length)
    present = [i for i, view in enumerate(images[0]) if view is not None]
    if not present:
        raise PolicyError("every camera is missing from the observation: at least one is needed")
    batch, side = len(images), config.image_resolution[0]
    pixels = torch.stack(
        [torch.as_tensor(np.stack([cast(np.ndarray, views[i]) for i in present])) for views in images]
    )  # (B, P, H, W, 3): the present cameras of every sample
    pixels = pixels.permute(0, 1, 4, 2, 3).flatten(0, 1)
    resized = preprocess_images(pixels, side).unflatten(0, (batch, len(present)))
    empty = len(images[0]) - len(present) + config.empty_cameras
    masks = torch.cat(
        [torch.ones(batch, len(present), dtype=torch.bool), torch.zeros(batch, empty, dtype=torch.bool)], 1
    )
    resized = torch.cat([resized, -torch.ones(batch, empty, *resized.shape[2:])], dim=1)
    return Batch(images=resized, image_masks=masks, prompt=prompt, prompt_mask=prompt_mask)
