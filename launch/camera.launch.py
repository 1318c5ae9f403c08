"""One camera: a V4L2 device, a video file or synthetic frames.

ros2 launch lerobot_bringup camera.launch.py [name:=value ...]   (--show-args lists them)
The same processes without launch: lerobot_bringup camera [name:=value ...]
"""

from lerobot_bringup.launch_render import launch_description


def generate_launch_description():
    return launch_description("camera")
