"""The last checks before a joint target leaves the policy. No rclpy.

On a robot driven by other software (ros2_control, a vendor driver) nothing else stands
between the model and the motors, so every target is finite, inside the profile's joint
limits, and at most `max_step` from the target before it (from the measured position for the
first one): a policy never makes the arm jump, whatever it predicts.
"""

from __future__ import annotations

import numpy as np

from lerobot_drivers.profile import RobotProfile
from lerobot_policy.errors import PolicyError


class CommandLimits:
    def __init__(self, low: np.ndarray, high: np.ndarray, max_step: float) -> None:
        self.low, self.high, self.max_step = low, high, max_step
        self.limited_steps = 0  # targets changed by a limit

    @classmethod
    def from_profile(cls, profile: RobotProfile, fps: float) -> CommandLimits:
        """The profile's joint limits (unbounded where it gives none) and its per-cycle step,
        scaled to the policy's rate (the drivers allow max_step_rad per control cycle)."""
        low = np.array([j.limits[0] if j.limits else -np.inf for j in profile.joints])
        high = np.array([j.limits[1] if j.limits else np.inf for j in profile.joints])
        control = profile.control
        return cls(low, high, control.max_step_rad * control.rate_hz / fps)

    def path(self, targets: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
        """(n, D) targets limited one after the other, starting from `previous`."""
        if not np.isfinite(targets).all():
            raise PolicyError("a joint target is NaN or Inf: nothing is sent")
        out = np.clip(np.asarray(targets, dtype=np.float64), self.low, self.high)
        for k in range(len(out)):
            if previous is not None:
                out[k] = previous + np.clip(out[k] - previous, -self.max_step, self.max_step)
            previous = out[k]
        self.limited_steps += int((np.abs(out - targets) > 1e-9).any(axis=1).sum())
        return out
