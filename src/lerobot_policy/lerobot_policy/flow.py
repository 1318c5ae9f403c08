"""Flow matching as pi0.5 trains and samples it.

Training: t ~ Beta(1.5, 1) * 0.999 + 0.001 (more weight near the noise end), x_t = t * noise
+ (1 - t) * actions, and the model's velocity is regressed onto u = noise - actions.
Sampling: Euler steps from t = 1 (pure noise) to t = 0 with dt = -1 / steps, t = 1 + step * dt.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lerobot_policy.configuration import PI05Config


def sample_time(batch: int, config: PI05Config) -> torch.Tensor:
    """(batch,) training times; tests that need exact times pass their own."""
    beta = torch.distributions.Beta(config.time_sampling_beta_alpha, config.time_sampling_beta_beta)
    return beta.sample((batch,)) * config.time_sampling_scale + config.time_sampling_offset


def noisy_actions(actions: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, H, D) actions and noise, (B,) times -> (x_t, target velocity u)."""
    t = t[:, None, None]
    return t * noise + (1 - t) * actions, noise - actions


def flow_loss(
    predicted_velocity: torch.Tensor, target: torch.Tensor, action_dim: int, pad: torch.Tensor | None = None
) -> torch.Tensor:
    """MSE over the real action dimensions (the rest is zero padding up to max_action_dim) and,
    given `pad` (B, H), over the steps inside the episode only."""
    errors = (predicted_velocity[..., :action_dim] - target[..., :action_dim]) ** 2
    if pad is None:
        return errors.mean()
    inside = (~pad)[..., None].to(errors.dtype)
    return (errors * inside).sum() / (inside.sum() * action_dim).clamp(min=1)


def euler_sample(
    velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], noise: torch.Tensor, steps: int
) -> torch.Tensor:
    """Integrate dx/dt = v(x, t) from t = 1 to t = 0 in `steps` Euler steps. Each step's time
    is 1 + step * dt, computed afresh as LeRobot and openpi do (accumulating dt in float32 drifts
    by 1e-7 a step, which the time embedding turns into 1e-4 in the velocity)."""
    dt = -1.0 / steps
    x = noise
    for step in range(steps):
        t = torch.full((noise.shape[0],), 1.0 + step * dt, dtype=torch.float32, device=noise.device)
        x = x + dt * velocity(x, t)
    return x
