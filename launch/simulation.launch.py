"""Both arms simulated: the leader moved by hand teleoperates the follower, or policy_path:=... drives it.

ros2 launch lerobot_bringup simulation.launch.py [name:=value ...]   (--show-args lists them)
The same processes without launch: lerobot_bringup simulation [name:=value ...]
"""

from lerobot_bringup.launch_render import launch_description


def generate_launch_description():
    return launch_description("simulation")
