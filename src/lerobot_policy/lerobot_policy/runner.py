"""Acting with a trained policy: an observation in, timed joint targets out. No rclpy.

The runner checks what a real arm needs before anything moves: every camera the policy was
trained with is present, the state has the trained joints, the observation is fresh, and the
output is finite (a chunk with NaN or Inf is refused whole). The queue hands out one step per
control tick and skips the steps whose time passed while the model was thinking.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from lerobot_policy.action_chunk import ActionChunk
from lerobot_policy.bundle import ACTION, PolicyBundle
from lerobot_policy.collate import observation_batch
from lerobot_policy.configuration import PI05Config
from lerobot_policy.errors import PolicyError


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

    def infer(self, observation: Observation) -> np.ndarray:
        """(chunk_size, action_dim) joint targets in the dataset's units."""
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
        normalized = self.policy.sample_actions(batch, noise, steps=self.steps)[0, :, : len(self.features.action_names)]
        actions = self.normalizer.unnormalize(ACTION, normalized.float().cpu()).numpy()
        if not np.isfinite(actions).all():
            raise PolicyError("the policy produced NaN or Inf actions: the chunk is refused, nothing is sent")
        return actions


class ActionQueue:
    """The steps of the newest chunk, one per tick; a new chunk replaces what is left."""

    def __init__(self, n_action_steps: int) -> None:
        self.n_action_steps = n_action_steps
        self._steps: deque[np.ndarray] = deque()
        self._lock = threading.Lock()

    def replace(self, chunk: ActionChunk, now_ns: int) -> int:
        """Queue the chunk's first n_action_steps steps whose time has not passed; returns how
        many were skipped because inference took longer than their period."""
        rows = chunk.values[: self.n_action_steps]
        late = sum(1 for k in range(len(rows)) if chunk.step_stamp_ns(k) + chunk.period_s * 1e9 / 2 < now_ns)
        late = min(late, len(rows) - 1)  # the last step is still the best target there is
        with self._lock:
            self._steps = deque(rows[late:])
        return late

    def pop(self) -> np.ndarray | None:
        with self._lock:
            return self._steps.popleft() if self._steps else None

    def clear(self) -> None:
        with self._lock:
            self._steps.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._steps)
