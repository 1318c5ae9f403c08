"""The scripted expert in the physics scene, without the bus: its joint targets go through
LeRobot's calibration to the scene's actuators once a control tick, and MuJoCo's cube says
whether the task was done. (The same episodes through the bus, the driver and the ROS graph
are in tests/bringup/test_closed_loop.py.)"""

from pathlib import Path

import numpy as np
import pytest

from lerobot_drivers.calibration import from_radians
from lerobot_drivers.profile import load_profile
from lerobot_drivers.sim.expert import ScriptedExpert, home
from lerobot_drivers.sim.scene import ArmScene
from lerobot_drivers.sim.tasks import random_cube, task_named

PROFILE = Path(__file__).resolve().parents[2] / "config" / "so101_follower_mujoco.yaml"


def episode(task_name: str, seed: int, fps: float, seconds: float = 10.0) -> tuple[bool, float, dict]:
    """The expert from the home pose until the task's test holds: success, its time, the scene."""
    profile = load_profile(PROFILE)
    scene = ArmScene(profile, "so101_pick")
    calibration = scene.calibration

    def command(targets: dict[str, float]) -> None:
        for name, angle in targets.items():
            scene.drive(name, from_radians(angle, calibration[name]))

    command(home(scene, calibration, profile.joint_names))
    scene.step_to(2.0, longest_s=2.0)
    scene.place_cube(random_cube(np.random.default_rng(seed)))
    task, start = task_named(task_name), scene.report()
    expert = ScriptedExpert(scene, calibration, task)
    while scene.time < 2.0 + seconds:
        now = scene.report()
        if task.succeeded(start, now):
            return True, scene.time - 2.0, now
        command(expert.act(now))
        scene.step_to(scene.time + 1 / fps)
    return False, seconds, scene.report()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_expert_lifts_the_cube_wherever_it_lies(seed):
    lifted, seconds, scene = episode("pick", seed, fps=load_profile(PROFILE).fps)
    assert lifted, f"the cube rose {scene['cube'][2] - 0.02:.3f} m in 10 s"
    assert seconds < 7.0
    grasp, cube = np.array(scene["grasp"]), np.array(scene["cube"])
    assert np.linalg.norm(grasp - cube) < 0.03, "the cube is held between the jaw pads, not tossed up"


@pytest.mark.slow
def test_the_expert_reaches_the_cube_without_moving_it_when_asked_at_a_leaders_30_hz():
    reached, seconds, scene = episode("reach", 5, fps=30)  # its controller still steps at 10 Hz of scene time
    assert reached and seconds < 3.0
    assert np.allclose(scene["cube"], random_cube(np.random.default_rng(5)), atol=0.005)
