"""A timed chunk of joint targets, and its lerobot_msgs/ActionChunk form.

A policy predicts a (horizon, action_dim) block per observation; sending it whole, with
the observation stamp and step period, lets the receiver schedule, blend and detect
stale or lost chunks instead of guessing from arrival times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lerobot_drivers.ros_time import duration_to_s, ns_to_time, s_to_duration, time_to_ns
from lerobot_msgs.msg import ActionChunk as ActionChunkMsg
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

    def to_msg(self, stamp_ns: int) -> ActionChunkMsg:
        msg = ActionChunkMsg()
        msg.header.stamp = ns_to_time(stamp_ns)
        msg.observation_stamp = ns_to_time(self.observation_stamp_ns)
        msg.sequence = self.sequence
        msg.joint_names = list(self.joint_names)
        msg.horizon = self.horizon
        msg.action_dim = self.action_dim
        msg.period = s_to_duration(self.period_s)
        msg.start_offset = s_to_duration(self.start_offset_s)
        msg.values = self.values.ravel().tolist()
        return msg

    @classmethod
    def from_msg(cls, msg: ActionChunkMsg) -> ActionChunk:
        expected = msg.horizon * msg.action_dim
        if len(msg.values) != expected:
            raise ActionChunkError(
                f"ActionChunk #{msg.sequence} has {len(msg.values)} values, but horizon "
                f"{msg.horizon} x action_dim {msg.action_dim} = {expected}: the sender must fill "
                "values row-major with horizon * action_dim numbers"
            )
        values = np.asarray(msg.values, dtype=np.float64).reshape(msg.horizon, msg.action_dim)
        return cls(
            joint_names=tuple(msg.joint_names),
            values=values,
            period_s=duration_to_s(msg.period),
            observation_stamp_ns=time_to_ns(msg.observation_stamp),
            sequence=msg.sequence,
            start_offset_s=duration_to_s(msg.start_offset),
        )
