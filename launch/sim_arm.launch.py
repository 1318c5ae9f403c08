"""A simulated arm: its servo bus, the arm driver on it, one synthetic camera per profile camera.

ros2 launch lerobot_bringup sim_arm.launch.py [name:=value ...]   (--show-args lists them)
The same processes without launch: lerobot_bringup sim_arm [name:=value ...]
"""

from lerobot_bringup.launch_render import launch_description


def generate_launch_description():
    return launch_description("sim_arm")
