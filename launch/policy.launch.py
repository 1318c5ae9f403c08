"""The policy node on a robot's joint states and cameras (start the arm and cameras too).

ros2 launch lerobot_bringup policy.launch.py [name:=value ...]   (--show-args lists them)
The same processes without launch: lerobot_bringup policy [name:=value ...]
"""

from lerobot_bringup.launch_render import launch_description


def generate_launch_description():
    return launch_description("policy")
