"""The scene's own objects (the cube, any other shape that is not the arm) posed in the robot's
root frame: what rviz's markers and the Rerun view draw beside the arm model, where the
cameras alone show them only in 2D. No rclpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lerobot_drivers.description import description_for
from lerobot_drivers.sim.physics import attach
from lerobot_drivers.sim.scene import body_for, import_mujoco

VISIBLE_GROUPS = (0, 1, 2)  # MuJoCo's viewers show these geom groups by default


@dataclass(frozen=True)
class Shape:
    name: str
    kind: str  # box | sphere | cylinder (a cylinder's axis is its z)
    size: tuple[float, float, float]  # full extents along the shape's x, y, z (m)
    position: np.ndarray  # in the robot's root frame (m)
    quaternion: np.ndarray  # x, y, z, w (ROS order)
    rgba: tuple[float, float, float, float]


class SceneObjects:
    """Reads the state a running `lerobot_sim_bus --scene` shares; `shapes()` poses them now."""

    def __init__(self, state: Path) -> None:
        mujoco = import_mujoco()
        self._mujoco = mujoco
        shared = attach(state)
        self.model, self.state = shared.model, shared.state
        self.data = mujoco.MjData(self.model)
        self.frame = description_for(shared.profile).root
        bodies = {self.model.body(i).name for i in range(self.model.nbody)}
        self._root = self.model.body(body_for(self.frame, bodies)).id
        geom = mujoco.mjtGeom
        kinds = {int(geom.mjGEOM_BOX): "box", int(geom.mjGEOM_SPHERE): "sphere", int(geom.mjGEOM_CYLINDER): "cylinder"}
        self._geoms = [
            (g, kinds[int(self.model.geom_type[g])])
            for g in range(self.model.ngeom)
            if int(self.model.geom_type[g]) in kinds
            and self.model.geom_group[g] in VISIBLE_GROUPS
            and self.model.geom_rgba[g][3] > 0
            and not self._on_the_robot(int(self.model.geom_bodyid[g]))
        ]

    def _on_the_robot(self, body: int) -> bool:
        while body != 0:
            if body == self._root:
                return True
            body = int(self.model.body_parentid[body])
        return False

    def shapes(self) -> list[Shape]:
        _, self.data.qpos[:] = self.state.read()
        self._mujoco.mj_kinematics(self.model, self.data)
        origin, turn = self.data.xpos[self._root], self.data.xmat[self._root].reshape(3, 3)
        shapes = []
        for geom, kind in self._geoms:
            rotation = turn.T @ self.data.geom_xmat[geom].reshape(3, 3)
            wxyz = np.empty(4)
            self._mujoco.mju_mat2Quat(wxyz, rotation.flatten())
            half = self.model.geom_size[geom]
            size = {"box": half, "sphere": half[[0, 0, 0]], "cylinder": half[[0, 0, 1]]}[kind] * 2
            name = self.model.geom(geom).name or f"{self.model.body(self.model.geom_bodyid[geom]).name}_{geom}"
            shapes.append(
                Shape(
                    name, kind, (float(size[0]), float(size[1]), float(size[2])),
                    turn.T @ (self.data.geom_xpos[geom] - origin), np.roll(wxyz, -1),
                    tuple(float(c) for c in self.model.geom_rgba[geom]),  # type: ignore[arg-type]
                )
            )  # fmt: skip
        return shapes

    def close(self) -> None:
        self.state.close()
