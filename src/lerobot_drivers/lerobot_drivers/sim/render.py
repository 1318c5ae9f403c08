"""A camera of the physics scene as a frame source: the camera node's `source:=mujoco`.

The simulated bus owns the physics and writes the scene's state to a file; this source
rebuilds the same scene (with simplified visual meshes) from the file's sidecar, copies the
newest state and renders the camera named like the node's camera. Without a display, MuJoCo
renders through EGL (Mesa's software rasterizer is enough).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_drivers.cameras import CameraError, FrameSource
from lerobot_drivers.profile import load_profile
from lerobot_drivers.sim.physics import StateFile
from lerobot_drivers.sim.scene import GL_HELP, SceneError, build_model, gl_backend, import_mujoco


class SceneCamera(FrameSource):
    """Renders camera `camera` of the scene whose state is at `state`."""

    def __init__(self, width: int, height: int, fps: float, *, state: str, camera: str) -> None:
        super().__init__(width, height, fps)
        self.state_path, self.camera = Path(state), camera
        self._renderer: Any = None

    def open(self) -> None:
        sidecar = self.state_path.with_suffix(".json")
        if not sidecar.is_file():
            raise CameraError(
                f"no scene state at {self.state_path}: give the path `lerobot_sim_bus --scene` prints as `scene:`"
            )
        described = json.loads(sidecar.read_text())
        mujoco = import_mujoco()
        try:
            self.model = build_model(load_profile(described["profile"]), described["scene"])
            if self.camera not in {self.model.camera(i).name for i in range(self.model.ncam)}:
                names = sorted(self.model.camera(i).name for i in range(self.model.ncam))
                raise SceneError(f"the scene has no camera {self.camera!r}; its cameras: {names}")
            self.data = mujoco.MjData(self.model)
            self.state = StateFile(self.state_path, self.model.nq, create=False)
            try:
                renderer = mujoco.Renderer(self.model, self.height, self.width)
            except Exception as exc:  # a missing GL library surfaces as one of several errors
                raise SceneError(f"{GL_HELP} (MUJOCO_GL={gl_backend()}: {exc})") from None
        except SceneError as exc:
            raise CameraError(str(exc)) from None
        flags = mujoco.mjtRndFlag
        for flag in (flags.mjRND_SHADOW, flags.mjRND_REFLECTION, flags.mjRND_SKYBOX):
            renderer.scene.flags[flag] = 0
        self._renderer, self._mujoco = renderer, mujoco

    def read(self) -> np.ndarray:
        if self._renderer is None:
            raise CameraError("the scene camera is not open")
        _, self.data.qpos[:] = self.state.read()
        self._mujoco.mj_forward(self.model, self.data)
        self._renderer.update_scene(self.data, self.camera)
        return self._renderer.render().copy()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self.state.close()
            self._renderer = None
