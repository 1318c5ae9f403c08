"""Acting with a trained policy: an observation in, timed joint targets out. No rclpy.

The runner checks what a real arm needs before anything moves: every camera the policy was
trained with is present, the state has the trained joints, and the output is finite (a chunk
with NaN or Inf is refused whole). Which step runs at which tick: execution.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lerobot_policy.bundle import ACTION, PolicyBundle
from lerobot_policy.collate import observation_batch
from lerobot_policy.configuration import PI05Config
from lerobot_policy.errors import PolicyError
from lerobot_policy.processor import pad_vector
from lerobot_policy.rtc import Guidance, pad_committed, prefix_weights


@dataclass
class Observation:
    images: dict[str, np.ndarray]  # dataset camera key (observation.images.<name>) -> (H, W, 3) uint8
    state: np.ndarray  # the trained joints, in the dataset's units (radians)
    stamp_ns: int  # the state's stamp: step 0 of the chunk is meant for this time
    task: str


class PolicyRunner:
    def __init__(self, bundle: PolicyBundle, *, device: str = "cpu", steps: int | None = None, seed: int = 0) -> None:
        self.bundle = bundle
        self.device = torch.device(device)
        self.policy = bundle.policy.to(self.device).eval()
        self.steps = steps
        self.generator = torch.Generator(self.device).manual_seed(seed)
        self.features = bundle.assets.features
        self.normalizer = bundle.assets.normalizer(bundle.policy.config)

    @property
    def config(self) -> PI05Config:
        return self.policy.config

    def infer(self, observation: Observation, plan: RTCPlan | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(chunk_size, action_dim) joint targets in the dataset's units, and the same steps
        normalized (what a later chunk is guided towards). With `plan`, the chunk agrees with
        the steps the running chunk has committed (real-time chunking)."""
        missing = [key for key in self.features.cameras if key not in observation.images]
        if missing:
            raise PolicyError(f"the policy was trained with cameras {self.features.cameras}; missing {missing}")
        state = np.asarray(observation.state, dtype=np.float32)
        if state.shape != (len(self.features.state_names),):
            raise PolicyError(
                f"the policy expects a state of {len(self.features.state_names)} values "
                f"({self.features.state_names}), got shape {state.shape}"
            )
        if not np.isfinite(state).all():
            raise PolicyError("the observed state holds NaN or Inf: refusing to act on it")
        batch = observation_batch(
            self.config, self.normalizer, self.bundle.assets.text,
            images=[[observation.images[key] for key in self.features.cameras]], states=state[None],
            tasks=[observation.task],
        ).to(self.device)  # fmt: skip
        cfg = self.config
        noise = torch.randn(1, cfg.chunk_size, cfg.max_action_dim, generator=self.generator, device=self.device)
        guidance = None if plan is None else plan.guidance(cfg, len(self.features.action_names), self.device)
        sampled = self.policy.sample_actions(batch, noise, steps=self.steps, guidance=guidance)
        normalized = sampled[0, :, : len(self.features.action_names)].float().cpu()
        actions = self.normalizer.unnormalize(ACTION, normalized).numpy()
        if not np.isfinite(actions).all():
            raise PolicyError("the policy produced NaN or Inf actions: the chunk is refused, nothing is sent")
        return actions, normalized.numpy()


@dataclass(frozen=True)
class RTCPlan:
    """One guided inference: the committed normalized steps (n, action_dim), the delay it is
    planned for, in control steps, and LeRobot's RTC settings. The soft region reaches at
    least twice the delay: with LeRobot's fixed horizon, a delay as long as the horizon leaves
    the seam (step `delay`) unguided (measured: the boundary step went from 0.55 of plain
    replacement's to 0.21 at +300 ms with horizon 20 instead of 10, bench/policy.py)."""

    committed: np.ndarray
    delay: int
    execution_horizon: int = 10
    max_guidance_weight: float = 10.0
    schedule: str = "linear"
    through_model: bool = False

    def guidance(self, config: PI05Config, action_dim: int, device: torch.device) -> Guidance:
        steps = pad_committed(torch.as_tensor(self.committed, dtype=torch.float32), config.chunk_size)
        committed = pad_vector(steps, config.max_action_dim)[None].to(device)
        horizon = max(self.execution_horizon, 2 * self.delay)
        weights = prefix_weights(self.delay, horizon, config.chunk_size, self.schedule)
        return Guidance(committed, weights, action_dim, self.max_guidance_weight, self.through_model)
