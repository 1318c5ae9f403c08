"""A follower arm driver (lifecycle node), configured and activated at start.

ros2 launch launch/follower.launch.py profile:=config/so101_follower.yaml [port:=/dev/ttyACM0]
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode

CONFIG = Path(__file__).resolve().parents[1] / "config"


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "profile", default_value=str(CONFIG / "so101_follower.yaml"), description="the robot profile YAML"
            ),
            DeclareLaunchArgument("port", default_value="", description="overrides the profile's port"),
            DeclareLaunchArgument("autostart", default_value="true", description="configure and activate at start"),
            LifecycleNode(
                package="lerobot_drivers",
                executable="lerobot_arm_driver",
                name="arm_driver",
                namespace="",
                output="screen",
                parameters=[
                    {
                        "profile": LaunchConfiguration("profile"),
                        "port": LaunchConfiguration("port"),
                        "autostart": LaunchConfiguration("autostart"),
                    }
                ],
            ),
        ]
    )
