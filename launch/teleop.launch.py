"""A leader arm drives a follower arm; record:=true adds the live recorder.

ros2 launch lerobot_bringup teleop.launch.py [name:=value ...]   (--show-args lists them)
The same processes without launch: lerobot_bringup teleop [name:=value ...]
"""

from lerobot_bringup.launch_render import launch_description


def generate_launch_description():
    return launch_description("teleop")
