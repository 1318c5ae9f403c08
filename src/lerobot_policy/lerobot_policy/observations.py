"""The newest joint state and camera frames, put together as one observation. No rclpy.

Parts arrive on their own topics at their own rates; an observation is only as fresh as its
oldest part, so its age is counted from the earliest receive time among them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from lerobot_policy.errors import PolicyError
from lerobot_policy.runner import Observation


class ObservationBuffer:
    """Thread-safe: topic callbacks add parts while the control loop reads the newest whole."""

    def __init__(self, state_names: Sequence[str], cameras: Sequence[str]) -> None:
        self.state_names = list(state_names)
        self.cameras = list(cameras)
        self._lock = threading.Lock()
        self._state: tuple[np.ndarray, int, int] | None = None  # positions, stamp ns, receive ns
        self._images: dict[str, tuple[np.ndarray, int]] = {}  # camera key -> (rgb, receive ns)

    def add_state(self, names: Sequence[str], positions: Sequence[float], stamp_ns: int, received_ns: int) -> None:
        """A joint state message; raises when it lacks a joint the policy needs."""
        index = {name: i for i, name in enumerate(names)}
        missing = [name for name in self.state_names if name not in index]
        if missing:
            raise PolicyError(
                f"the joint states name {list(names)} but not {missing}, which the policy reads: point the "
                "profile's joint_states topic at the robot's, and name its joints as the robot does"
            )
        values = np.array([positions[index[name]] for name in self.state_names], dtype=np.float32)
        with self._lock:
            self._state = (values, stamp_ns or received_ns, received_ns)

    def add_image(self, key: str, rgb: np.ndarray, received_ns: int) -> None:
        with self._lock:
            self._images[key] = (rgb, received_ns)

    def measured(self) -> np.ndarray | None:
        """The newest joint positions, in the policy's joint order."""
        with self._lock:
            return None if self._state is None else self._state[0]

    def newest(self, task: str, now_ns: int) -> tuple[Observation | None, float]:
        """The newest whole observation and its age in seconds (None, inf while a part is missing)."""
        with self._lock:
            if self._state is None or any(key not in self._images for key in self.cameras):
                return None, float("inf")
            positions, stamp, received = self._state
            images = {key: self._images[key][0] for key in self.cameras}
            oldest = min([received, *(self._images[key][1] for key in self.cameras)])
        return Observation(images, positions, stamp, task), (now_ns - oldest) / 1e9
