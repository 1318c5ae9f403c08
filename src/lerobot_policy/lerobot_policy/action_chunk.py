"""A timed chunk of joint targets (its lerobot_msgs/ActionChunk form: nodes/chunk_messages.py).

A policy predicts a (horizon, action_dim) block per observation; sending it whole, with
the observation stamp and step period, lets the receiver schedule, blend and detect
stale or lost chunks instead of guessing from arrival times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lerobot_policy.errors import ActionChunkError


@dataclass(frozen=True)
class ActionChunk:
    joint_names: tuple[str, ...]
    values: np.ndarray  # (horizon, action_dim) float64
    period_s: float
    observation_stamp_ns: int
    sequence: int = 0
    start_offset_s: float = 0.0

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim != 2:
            raise ActionChunkError(f"values must be (horizon, action_dim), got shape {values.shape}")
        if values.shape[1] != len(self.joint_names):
            raise ActionChunkError(
                f"values have {values.shape[1]} columns but {len(self.joint_names)} joint names "
                f"{list(self.joint_names)}: give one name per action dimension"
            )
        if not np.isfinite(values).all():
            raise ActionChunkError("values contain NaN or Inf: a policy must never send them")
        if not self.period_s > 0:
            raise ActionChunkError(f"period_s must be > 0 s, got {self.period_s}")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "joint_names", tuple(self.joint_names))

    @property
    def horizon(self) -> int:
        return self.values.shape[0]

    @property
    def action_dim(self) -> int:
        return self.values.shape[1]

    def step_stamp_ns(self, step: int) -> int:
        """When step `step` is meant to be applied."""
        return self.observation_stamp_ns + round((self.start_offset_s + step * self.period_s) * 1e9)
