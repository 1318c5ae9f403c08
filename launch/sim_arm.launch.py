"""A simulated arm: the simulated servo bus plus the arm driver on it, and a synthetic camera.

ros2 launch launch/sim_arm.launch.py [profile:=config/koch_follower_sim.yaml]
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, TimerAction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode

CONFIG = Path(__file__).resolve().parents[1] / "config"
LINK = "/tmp/lerobot_sim_arm"


def generate_launch_description() -> LaunchDescription:
    profile = LaunchConfiguration("profile")
    return LaunchDescription(
        [
            DeclareLaunchArgument("profile", default_value=str(CONFIG / "so101_follower_sim.yaml")),
            ExecuteProcess(
                cmd=["lerobot_sim_bus", "--profile", profile, "--emulate-wire", "--link", LINK],
                output="screen",
            ),
            TimerAction(  # the simulator creates the port link first
                period=1.0,
                actions=[
                    LifecycleNode(
                        package="lerobot_drivers",
                        executable="lerobot_arm_driver",
                        name="arm_driver",
                        namespace="",
                        output="screen",
                        parameters=[{"profile": profile, "port": LINK, "autostart": True}],
                    )
                ],
            ),
            LifecycleNode(
                package="lerobot_drivers",
                executable="lerobot_camera",
                name="camera",
                namespace="",
                output="screen",
                parameters=[{"source": "synthetic", "camera_name": "front", "autostart": True}],
            ),
        ]
    )
