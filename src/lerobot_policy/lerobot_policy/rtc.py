"""Real-time chunking: the next chunk is inferred while the current one still runs, and made
to agree with the steps that will have been executed by the time it arrives.

Guided inference (arXiv 2506.07339): at each denoising step, the clean chunk the velocity
predicts (x1 = x_t - t * v) is pulled towards the committed steps, weighted per step (1 over
the inference delay, decaying to 0 at the execution horizon); the pull is scaled by
min(max_weight, c * ((1 - tau)^2 + tau^2) / (1 - tau)^2), tau = 1 - t, c = (1 - tau) / tau.
Two ways to carry the error back to x_t: LeRobot 0.6.1 computes v before x_t requires a
gradient, so its vector-Jacobian product is the weighted error itself (the default here: the
same numbers, no backward pass); Physical Intelligence's reference differentiates through
the model (`through_model`, a backward pass through the expert at every step).
With the fixes LeRobot needed: a short committed prefix is padded by repeating its last
step (zero is the dataset mean in normalized space, not "nothing"), the delay leaves
warm-up calls out, and a merge drops min(estimated delay, steps actually consumed).
Everything here works in the model's normalized action space and needs no ROS.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import torch

from lerobot_policy.errors import PolicyError

SCHEDULES = ("linear", "exp", "ones", "zeros")
Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def prefix_weights(delay: int, horizon: int, chunk: int, schedule: str = "linear") -> torch.Tensor:
    """(chunk,) guidance weights: 1 for the first `delay` steps (committed), then decaying
    towards 0 at step `horizon` ("linear", or "exp" as PI's reference), 0 after; "ones" holds
    1 up to the horizon, "zeros" guides the committed steps only."""
    if schedule not in SCHEDULES:
        raise PolicyError(f"RTC schedule {schedule!r}: use one of {SCHEDULES}")
    horizon = min(horizon, chunk)
    delay = min(delay, horizon)
    weights = torch.zeros(chunk)
    if schedule == "zeros":
        weights[:delay] = 1.0
        return weights
    if schedule == "ones":
        weights[:horizon] = 1.0
        return weights
    decay = torch.linspace(1.0, 0.0, horizon - delay + 2)[1:-1]  # strictly between 1 and 0
    if schedule == "exp":
        decay = decay * torch.expm1(decay) / (math.e - 1)
    weights[:delay] = 1.0
    weights[delay:horizon] = decay
    return weights


def guidance_weight(t: float, max_weight: float) -> float:
    """The pull at flow time t (1: noise, 0: clean), capped at max_weight (infinite at t = 1)."""
    tau = 1.0 - t
    if tau <= 0.0:
        return max_weight
    if tau >= 1.0:
        return 0.0
    c = (1.0 - tau) / tau
    return min(max_weight, c * ((1.0 - tau) ** 2 + tau**2) / (1.0 - tau) ** 2)


def pad_committed(steps: torch.Tensor, chunk: int) -> torch.Tensor:
    """(n, D) committed steps -> (chunk, D), the last step repeated after them (never zeros:
    zero decodes to the dataset's mean and would pull the arm towards it)."""
    if steps.shape[0] == 0:
        raise PolicyError("no committed steps to guide towards")
    if steps.shape[0] >= chunk:
        return steps[:chunk]
    return torch.cat([steps, steps[-1:].expand(chunk - steps.shape[0], -1)], dim=0)


@dataclass
class Guidance:
    """What one guided inference agrees with: the committed steps (B, H, D) normalized and
    padded to the model's action width, their per-step weights (H,), the real action dims."""

    committed: torch.Tensor
    weights: torch.Tensor
    action_dim: int
    max_weight: float = 10.0
    through_model: bool = False  # True: PI's reference VJP through the model; False: LeRobot's

    def wrap(self, velocity: Velocity) -> Velocity:
        """The velocity with the pull towards the committed steps subtracted."""
        mask = torch.zeros(self.committed.shape[-1], device=self.committed.device)
        mask[: self.action_dim] = 1.0
        weights = self.weights.to(self.committed.device)[None, :, None] * mask  # (1, H, D)

        def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            if not self.through_model:
                v = velocity(x, t)
                correction = (self.committed - (x - t[:, None, None] * v)) * weights
                return v - guidance_weight(float(t[0]), self.max_weight) * correction
            with torch.enable_grad():
                x = x.detach().requires_grad_(True)
                v = velocity(x, t)
                clean = x - t[:, None, None] * v
                error = ((self.committed - clean) * weights).detach()
                (correction,) = torch.autograd.grad(clean, x, error)
            return (v - guidance_weight(float(t[0]), self.max_weight) * correction).detach()

        return guided


class LatencyTracker:
    """Inference latencies of the last `window` calls after `warmup` (cold-start calls load
    kernels and caches: counting them would overestimate the delay for a long time)."""

    def __init__(self, window: int = 100, warmup: int = 1) -> None:
        self.warmup = warmup
        self.calls = 0
        self.latencies: deque[float] = deque(maxlen=window)
        self.cold = 0.0  # the slowest warm-up call: the estimate until a warm one is known

    def add(self, seconds: float) -> None:
        self.calls += 1
        if self.calls > self.warmup:
            self.latencies.append(seconds)
        else:
            self.cold = max(self.cold, seconds)

    def delay_steps(self, period_s: float) -> int:
        """Control steps the next inference is expected to take: the worst of the window, or
        the warm-up's until the window holds a call (overestimating then beats starving)."""
        worst = max(self.latencies) if self.latencies else self.cold
        return math.ceil(worst / period_s)

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def steps_to_drop(estimated_delay: int, consumed: int) -> int:
    """The new chunk's steps already overtaken at merge: those consumed while it was inferred,
    never more than the delay it was conditioned on (LeRobot dropped the estimate alone and
    skipped steps that were never executed)."""
    return max(0, min(estimated_delay, consumed))
