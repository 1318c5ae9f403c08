"""Leader -> follower mapping, as LeRobot's teleoperation does it.

A leader and its follower have different calibrations; LeRobot hands the follower the
leader's *normalized* value per joint (-100..100 of the range, 0..100 for the gripper, or
degrees). Here the same: leader radians -> leader raw -> normalized -> follower raw ->
follower radians, so the follower reaches the same fraction of its own range.
"""

from __future__ import annotations

from lerobot_drivers.calibration import MotorCalibration, from_radians, normalize, to_radians, unnormalize
from lerobot_drivers.errors import ProfileError
from lerobot_drivers.profile import RobotProfile


class TeleopMap:
    def __init__(
        self,
        leader: RobotProfile,
        leader_calibration: dict[str, MotorCalibration],
        follower: RobotProfile,
        follower_calibration: dict[str, MotorCalibration],
    ) -> None:
        if leader.joint_names != follower.joint_names:
            raise ProfileError(
                f"leader joints {leader.joint_names} and follower joints {follower.joint_names} differ: "
                "teleoperation pairs joints by name and order"
            )
        self.names = follower.joint_names
        self.modes = {j.name: j.norm_mode for j in follower.joints}
        self.leader_calibration = leader_calibration
        self.follower_calibration = follower_calibration

    def follower_targets(self, leader_positions: dict[str, float]) -> dict[str, float]:
        targets = {}
        for name in self.names:
            lead, follow, mode = (
                self.leader_calibration[name],
                self.follower_calibration[name],
                self.modes[name],
            )
            value = normalize(from_radians(leader_positions[name], lead), lead, mode)
            targets[name] = to_radians(unnormalize(value, follow, mode), follow)
        return targets
