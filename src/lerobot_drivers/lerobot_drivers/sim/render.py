"""A camera of the physics scene as a frame source: the camera node's `source:=mujoco`.

The simulated bus owns the physics and writes the scene's state to a file; this source
rebuilds the same scene (with simplified visual meshes) from the file's sidecar, copies the
newest state and renders the camera named like the node's camera. Without a display, MuJoCo
renders through EGL (Mesa's software rasterizer is enough).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_drivers.cameras import CameraError, FrameSource
from lerobot_drivers.sim.physics import StateFile, attach
from lerobot_drivers.sim.scene import GL_HELP, SceneError, gl_backend, import_mujoco


class SceneCamera(FrameSource):
    """Renders camera `camera` of the scene whose state is at `state`. An OpenGL context
    belongs to the thread that made it: every GL call runs on a thread of this source's own."""

    def __init__(self, width: int, height: int, fps: float, *, state: str, camera: str) -> None:
        super().__init__(width, height, fps)
        self.state_path, self.camera = Path(state), camera
        self._renderer: Any = None
        self.state: StateFile | None = None
        self._jobs: queue.Queue[tuple[Callable[[], Any], queue.Queue] | None] = queue.Queue()
        self._gl: threading.Thread | None = None

    def open(self) -> None:
        mujoco = import_mujoco()
        try:
            shared = attach(self.state_path)
            self.model, self.state = shared.model, shared.state
            if self.camera not in {self.model.camera(i).name for i in range(self.model.ncam)}:
                names = sorted(self.model.camera(i).name for i in range(self.model.ncam))
                raise SceneError(f"the scene has no camera {self.camera!r}; its cameras: {names}")
            self.data = mujoco.MjData(self.model)
            self._gl = threading.Thread(target=self._serve, name=f"gl:{self.camera}", daemon=True)
            self._gl.start()
            self._renderer = self._on_gl(self._make_renderer)
        except SceneError as exc:
            self.close()
            raise CameraError(str(exc)) from None
        self._mujoco = mujoco

    def _make_renderer(self) -> Any:
        mujoco = import_mujoco()
        try:
            from mujoco.rendering.classic import gl_context

            chosen, wanted = gl_context.GLContext.__module__.rsplit(".", 1)[-1], gl_backend()
        except Exception as exc:  # the backend's libraries are missing: its import fails in several ways
            raise SceneError(f"{GL_HELP} (MUJOCO_GL={gl_backend()}: {exc})") from None
        if chosen != wanted and wanted in ("egl", "osmesa", "glfw"):
            raise SceneError(
                f"MuJoCo was imported with its {chosen} backend before MUJOCO_GL={wanted} was set: "
                "set MUJOCO_GL in the environment of the process"
            )
        if chosen == "glfw" and not os.environ.get("DISPLAY"):
            raise SceneError(f"{GL_HELP} (MUJOCO_GL={wanted}: no display for GLFW)")
        try:
            renderer = mujoco.Renderer(self.model, self.height, self.width)
        except Exception as exc:  # a missing GL library surfaces as one of several errors
            raise SceneError(f"{GL_HELP} (MUJOCO_GL={gl_backend()}: {exc})") from None
        flags = mujoco.mjtRndFlag
        for flag in (flags.mjRND_SHADOW, flags.mjRND_REFLECTION, flags.mjRND_SKYBOX):
            renderer.scene.flags[flag] = 0
        return renderer

    def read(self) -> np.ndarray:
        if self._renderer is None:
            raise CameraError("the scene camera is not open")
        assert self.state is not None  # open
        _, self.data.qpos[:] = self.state.read()
        self._mujoco.mj_forward(self.model, self.data)
        return self._on_gl(self._render)

    def _render(self) -> np.ndarray:
        self._renderer.update_scene(self.data, self.camera)
        return self._renderer.render().copy()

    def close(self) -> None:
        if self._renderer is not None:
            self._on_gl(self._renderer.close)
            self._renderer = None
        if self.state is not None:
            self.state.close()
            self.state = None
        if self._gl is not None:
            self._jobs.put(None)
            self._gl.join(timeout=5)
            self._gl = None

    # --- the GL thread --------------------------------------------------------------------------
    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            work, done = job
            try:
                done.put((True, work()))
            except BaseException as exc:  # handed to the caller
                done.put((False, exc))

    def _on_gl(self, work: Callable[[], Any], timeout_s: float = 60.0) -> Any:
        done: queue.Queue = queue.Queue(maxsize=1)
        self._jobs.put((work, done))
        try:
            ok, value = done.get(timeout=timeout_s)
        except queue.Empty:
            raise CameraError(f"the {self.camera} renderer did not answer within {timeout_s:.0f} s") from None
        if not ok:
            raise value
        return value
