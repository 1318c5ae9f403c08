"""A follower arm driver, configured and activated at start.

ros2 launch lerobot_bringup follower.launch.py [name:=value ...]   (--show-args lists them)
The same processes without launch: lerobot_bringup follower [name:=value ...]
"""

from lerobot_bringup.launch_render import launch_description


def generate_launch_description():
    return launch_description("follower")
