"""The policy node on a robot profile: the arm's joint states and cameras in, commands out.

ros2 launch launch/policy.launch.py policy_path:=runs/pick/checkpoints/last/pretrained_model \
    profile:=config/so101_follower.yaml task:="pick up the cube"
Start the arm driver and cameras first (follower.launch.py, camera.launch.py).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode

ARGS = {
    "policy_path": "",
    "profile": "config/so101_follower.yaml",
    "task": "",
    "device": "cpu",
    "max_observation_age_s": "0.5",
}


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=value) for name, value in ARGS.items()]
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
