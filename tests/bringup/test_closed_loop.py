"""One short closed-loop episode end to end in separate processes: the SO-101 in MuJoCo behind
the simulated bus, its driver, both cameras rendering the scene, and the policy node; the
episode runner in this process. The success test is checked on the real scene both ways:
the scripted expert's reach and pick succeed, the arm left at home does not; the policy's episode
moves the arm and ends with a measured distance."""

from pathlib import Path

import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState

from lerobot_drivers.profile import load_profile
from lerobot_drivers.sim.tasks import task_named
from lerobot_recorder.convert import convert
from lerobot_recorder.spec import DatasetSpec
from lerobot_recorder.synthetic import SyntheticArm, write_bag
from ros_harness import final_torques, interrupt, start_bringup

pytestmark = pytest.mark.slow
PROFILE = Path(__file__).resolve().parents[2] / "config" / "so101_follower_mujoco.yaml"


@pytest.fixture(scope="module")
def policy_for_the_scene(tmp_path_factory) -> Path:
    """A tiny policy trained two steps on a dataset of the physics profile (10 fps, its cameras)."""
    from lerobot_policy.train import TrainConfig, train

    folder = tmp_path_factory.mktemp("scene_policy")
    bag = write_bag(folder / "bag", SyntheticArm(), [(0, 3, "reach the purple cube")])
    convert([bag], DatasetSpec.from_profile(load_profile(PROFILE)), folder / "dataset", codec="libx264")
    run = train(TrainConfig(dataset=str(folder / "dataset"), output=str(folder / "run"), steps=2, batch_size=2,
                            progress=False))  # fmt: skip
    return run / "pretrained_model"


def test_one_episode_of_each_controller_in_physics(ros_testbed, ros_probe, policy_for_the_scene):
    from lerobot_bringup.closed_loop import EpisodeRunner

    states = ros_probe.collect(JointState, "/follower/joint_states", qos_profile_sensor_data)
    arm = start_bringup(ros_testbed, "sim_arm", "scene:=so101_pick", f"profile:={PROFILE}", "emulate_wire:=false")
    control = arm.wait_for_output(r"\[follower_bus\] control: (\S+)", 60).group(1)
    arm.wait_for_output(r"\[arm_driver\].*active at", 60)
    arm.wait_for_output(r"\[camera_front\].*configured mujoco camera", 60)
    policy = start_bringup(
        ros_testbed, "policy", f"policy_path:={policy_for_the_scene}", f"profile:={PROFILE}",
        "task:=reach the purple cube",
    )  # fmt: skip
    policy.wait_for_output(r"\[policy\].*policy .* for so101_follower", 120)
    runner = EpisodeRunner(load_profile(PROFILE), control, domain_id=ros_testbed.domain_id)
    reach = task_named("reach")
    try:
        runner.enable_policy(False)
        at_home = runner.prepare(seed=3)
        idle = runner.run(reach, at_home, None, seconds=1.0)
        assert not idle.success and idle.distance > 0.1, idle  # the grasp point starts far above the cube

        expert = runner.run(reach, runner.prepare(seed=3), runner.expert(reach), seconds=8.0)
        assert expert.success and expert.distance < 0.02, expert
        assert reach.distance(at_home, runner.report()) < 0.03  # and it stays at the cube, in MuJoCo

        pick = task_named("pick")
        lifted = runner.run(pick, runner.prepare(seed=3), runner.expert(pick), seconds=10.0)
        assert lifted.success, lifted  # the cube 5 cm up, through the bus, the driver and the jaw pads

        before = len(states.snapshot())
        driven = runner.policy_episode(reach, seed=3, seconds=3.0)
        assert np.isfinite(driven.distance) and driven.seconds > 0
        positions = np.array([m.position for m in states.snapshot()[before:]])
        assert np.ptp(positions, axis=0).max() > 0.01, "the arm moved during the episodes"
    finally:
        runner.close()
    assert interrupt(policy) == 0, policy.output[-3000:]
    assert interrupt(arm) == 0, arm.output[-3000:]
    assert all(v == 0 for torques in final_torques(arm.output) for v in torques.values())
    assert "Traceback" not in arm.output + policy.output
