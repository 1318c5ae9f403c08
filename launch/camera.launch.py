"""One camera (V4L2 device, video file or synthetic).

ros2 launch launch/camera.launch.py source:=device device:=/dev/video0 camera_name:=front
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode

ARGS = {  # name: (default, description)
    "source": ("device", "frame source: device, file or synthetic"),
    "device": ("/dev/video0", "V4L2 device path or index (source:=device)"),
    "file": ("", "video file to play (source:=file)"),
    "camera_name": ("front", "node name and topic namespace: <camera_name>/image_raw"),
    "width": ("640", "frame width, pixels"),
    "height": ("480", "frame height, pixels"),
    "fps": ("30.0", "frames per second"),
    "camera_info_url": ("", "calibration YAML (camera_calibration's); empty: uncalibrated"),
}


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=value, description=text) for name, (value, text) in ARGS.items()]
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
