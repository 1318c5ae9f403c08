"""The simulated bus's servos moved by MuJoCo instead of their own motion model, and the
scene's state shared with the processes that render its cameras. No rclpy.

The state file holds a sequence number (odd while it is being written), the simulated time
and the scene's qpos; a renderer copies it and retries if the number changed meanwhile.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_drivers.profile import RobotProfile, load_profile
from lerobot_drivers.sim.scene import ArmScene, SceneError, build_model
from lerobot_drivers.sim.servo import SimServo

HEADER = struct.Struct("<Qd")  # sequence, simulated time (s)


class StateFile:
    """qpos of a scene in a shared file: one writer, any number of readers."""

    def __init__(self, path: Path, size: int, *, create: bool) -> None:
        self.path, self.size = path, size
        length = HEADER.size + 8 * size
        flags = os.O_RDWR | (os.O_CREAT | os.O_TRUNC if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, length)
            elif os.fstat(fd).st_size != length:
                raise SceneError(f"{path} holds no state of this scene ({os.fstat(fd).st_size} bytes, not {length})")
            self._map = mmap.mmap(fd, length)
        finally:
            os.close(fd)
        self._sequence = 0

    def write(self, seconds: float, qpos: np.ndarray) -> None:
        self._sequence += 1
        HEADER.pack_into(self._map, 0, self._sequence, seconds)  # odd: being written
        self._map[HEADER.size :] = np.ascontiguousarray(qpos, dtype=np.float64).tobytes()
        self._sequence += 1
        HEADER.pack_into(self._map, 0, self._sequence, seconds)

    def read(self) -> tuple[float, np.ndarray]:
        while True:
            before, seconds = HEADER.unpack_from(self._map, 0)
            qpos = np.frombuffer(self._map[HEADER.size :], dtype=np.float64).copy()
            after, _ = HEADER.unpack_from(self._map, 0)
            if before == after and not before % 2:
                return seconds, qpos
            time.sleep(0.0005)

    def close(self) -> None:
        self._map.close()


def describe(state: Path, profile: RobotProfile, scene: str) -> None:
    """What a renderer needs to rebuild the scene: written beside the state file."""
    sidecar = {"profile": str(profile.source), "scene": scene}
    state.with_suffix(".json").write_text(json.dumps(sidecar))


@dataclass(frozen=True)
class SharedScene:
    """A scene rebuilt in another process from what `describe` wrote, and its live state."""

    profile: RobotProfile
    model: Any  # mujoco.MjModel
    state: StateFile


def attach(state: Path) -> SharedScene:
    """The scene a running `lerobot_sim_bus --scene` shares at `state` (a camera, the markers)."""
    sidecar = state.with_suffix(".json")
    if not sidecar.is_file():
        raise SceneError(f"no scene state at {state}: give the path `lerobot_sim_bus --scene` prints as `scene:`")
    described = json.loads(sidecar.read_text())
    profile = load_profile(described["profile"])
    model = build_model(profile, described["scene"])
    return SharedScene(profile, model, StateFile(state, model.nq, create=False))


class PhysicsPlant:
    """Moves the bus's servos with the scene; called under the bus's lock."""

    def __init__(self, profile: RobotProfile, servos: list[SimServo], scene: str, state: Path) -> None:
        self.scene = ArmScene(profile, scene)
        self.servos = {joint.name: servo for joint, servo in zip(profile.joints, servos, strict=True)}
        self.state = StateFile(state, self.scene.model.nq, create=True)
        describe(state, profile, scene)
        self._started = time.monotonic()
        self.lock = threading.RLock()
        for name, servo in self.servos.items():
            servo.move_by_hand(self.scene.reading(name)[0])
        self._publish()

    def advance(self, now: float) -> None:
        """Goals and torque in, physics up to `now`, positions, speeds and loads out."""
        with self.lock:
            for name, servo in self.servos.items():
                holding = servo.torque_enabled and not servo.hardware_error
                self.scene.drive(name, servo.get("Goal_Position") if holding else None)
            self.scene.step_to(now - self._started)
            for name, servo in self.servos.items():
                position, velocity, load = self.scene.reading(name)
                servo.follow(position, velocity, load)
            self._publish()

    def report(self) -> dict[str, object]:
        """The task's view of the scene (the control socket's replies)."""
        with self.lock:
            return self.scene.report()

    def _publish(self) -> None:
        self.state.write(self.scene.time, self.scene.data.qpos)

    def close(self) -> None:
        self.state.close()
