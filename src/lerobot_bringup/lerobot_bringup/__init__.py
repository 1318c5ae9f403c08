"""Scenarios of the suite (simulated arm, follower, teleop, policy, full simulation), described
once and started either by `ros2 launch lerobot_bringup <scenario>.launch.py` or by
`lerobot_bringup <scenario>` where no launch is installed."""

from lerobot_bringup.errors import BringupError
from lerobot_bringup.scenario import Argument, Process, Scenario

__all__ = ["Argument", "BringupError", "Process", "Scenario"]
