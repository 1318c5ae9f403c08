"""Teleoperation: a leader arm drives a follower arm.

  ros2 launch launch/teleop.launch.py leader_profile:=config/so101_leader.yaml \
      follower_profile:=config/so101_follower.yaml
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode

CONFIG = Path(__file__).resolve().parents[1] / "config"


def generate_launch_description() -> LaunchDescription:
    leader, follower = LaunchConfiguration("leader_profile"), LaunchConfiguration("follower_profile")
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "leader_profile", default_value=str(CONFIG / "so101_leader.yaml"), description="the leader's profile"
            ),
            DeclareLaunchArgument(
                "follower_profile",
                default_value=str(CONFIG / "so101_follower.yaml"),
                description="the follower's profile (the leader maps onto its calibration)",
            ),
            LifecycleNode(
                package="lerobot_drivers",
                executable="lerobot_arm_driver",
                name="arm_driver",
                namespace="",
                output="screen",
                parameters=[{"profile": follower, "autostart": True}],
            ),
            LifecycleNode(
                package="lerobot_drivers",
                executable="lerobot_leader_arm",
                name="leader_arm",
                namespace="",
                output="screen",
                parameters=[{"profile": leader, "follower_profile": follower, "autostart": True}],
            ),
        ]
    )
