"""One camera (V4L2 device, video file or synthetic).

ros2 launch launch/camera.launch.py source:=device device:=/dev/video0 camera_name:=front
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode

ARGS = {
    "source": "device",
    "device": "/dev/video0",
    "file": "",
    "camera_name": "front",
    "width": "640",
    "height": "480",
    "fps": "30.0",
}


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=value) for name, value in ARGS.items()]
        + [
            LifecycleNode(
                package="lerobot_drivers",
                executable="lerobot_camera",
                name=LaunchConfiguration("camera_name"),
                namespace="",
                output="screen",
                parameters=[{name: LaunchConfiguration(name) for name in ARGS} | {"autostart": True}],
            )
        ]
    )
