"""The policy node on a robot profile: the arm's joint states and cameras in, commands out.

ros2 launch launch/policy.launch.py policy_path:=runs/pick/checkpoints/last/pretrained_model \
    profile:=config/so101_follower.yaml task:="pick up the cube"
Start the arm driver and cameras first (follower.launch.py, camera.launch.py).
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode

CONFIG = Path(__file__).resolve().parents[1] / "config"
ARGS = {  # name: (default, description)
    "policy_path": ("", "a trained policy folder (checkpoints/<step>/pretrained_model)"),
    "profile": (str(CONFIG / "so101_follower.yaml"), "the robot profile YAML"),
    "task": ("", "the language instruction; /policy/task changes it at run time"),
    "device": ("cpu", "torch device: cpu, cuda, cuda:N"),
    "max_observation_age_s": ("0.5", "never act on an observation older than this, seconds"),
}


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=value, description=text) for name, (value, text) in ARGS.items()]
        + [
            LifecycleNode(
                package="lerobot_policy",
                executable="lerobot_policy_node",
                name="policy",
                namespace="",
                output="screen",
                parameters=[{name: LaunchConfiguration(name) for name in ARGS} | {"autostart": True}],
            )
        ]
    )
