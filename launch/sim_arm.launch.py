"""A simulated arm: the simulated servo bus plus the arm driver on it, and synthetic cameras
(front and wrist, as the simulated profiles list them).

ros2 launch launch/sim_arm.launch.py [profile:=config/koch_follower_sim.yaml]
"""

import os
from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, TimerAction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode

CONFIG = Path(__file__).resolve().parents[1] / "config"
LINK = f"/tmp/lerobot_sim_arm_{os.getpid()}"  # one port link per launch: two runs do not collide


def generate_launch_description() -> LaunchDescription:
    profile = LaunchConfiguration("profile")
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "profile", default_value=str(CONFIG / "so101_follower_sim.yaml"), description="a simulated profile"
            ),
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
        ]
        + [
            LifecycleNode(
                package="lerobot_drivers",
                executable="lerobot_camera",
                name=f"camera_{name}",
                namespace="",
                output="screen",
                parameters=[{"source": "synthetic", "camera_name": name, "autostart": True}],
            )
            for name in ("front", "wrist")
        ]
    )
