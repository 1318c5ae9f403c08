"""Acting with a trained policy, without ROS: checks before anything moves, and the step queue."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lerobot_drivers.profile import load_profile
from lerobot_policy.action_chunk import ActionChunk
from lerobot_policy.bundle import PolicyBundle
from lerobot_policy.errors import PolicyError
from lerobot_policy.nodes.policy_node import check_agreement
from lerobot_policy.runner import ActionQueue, Observation, PolicyRunner

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "config" / "so101_follower_sim.yaml"


@pytest.fixture(scope="module")
def runner(trained_policy):
    return PolicyRunner(PolicyBundle.load(trained_policy), steps=3)


def observation(runner, **changes) -> Observation:
    images = {key: np.full((120, 160, 3), 90, np.uint8) for key in runner.features.cameras}
    values = {"images": images, "state": np.zeros(6, np.float32), "stamp_ns": 10**18, "task": "pick the cube"}
    return Observation(**{**values, **changes})


def test_inference_gives_a_chunk_in_the_datasets_units(runner):
    actions = runner.infer(observation(runner))
    assert actions.shape == (runner.config.chunk_size, 6) and np.isfinite(actions).all()
    # the same seed and observation give the same chunk: sampling noise comes from the runner's generator
    first = PolicyRunner(runner.bundle, steps=3, seed=7).infer(observation(runner))
    second = PolicyRunner(runner.bundle, steps=3, seed=7).infer(observation(runner))
    np.testing.assert_array_equal(first, second)


def test_bad_observations_are_refused_before_anything_moves(runner):
    with pytest.raises(PolicyError, match="missing"):
        runner.infer(observation(runner, images={}))
    with pytest.raises(PolicyError, match="NaN or Inf"):
        runner.infer(observation(runner, state=np.array([0, 0, np.nan, 0, 0, 0], np.float32)))
    with pytest.raises(PolicyError, match="state of 6 values"):
        runner.infer(observation(runner, state=np.zeros(5, np.float32)))


def test_nan_actions_are_refused_whole(runner, monkeypatch):
    monkeypatch.setattr(runner.normalizer, "unnormalize", lambda feature, values: values * np.nan)
    with pytest.raises(PolicyError, match="NaN or Inf actions"):
        runner.infer(observation(runner))


def test_the_queue_skips_steps_whose_time_passed_during_inference():
    chunk = ActionChunk(tuple("abc"), np.arange(30.0).reshape(10, 3), period_s=0.1, observation_stamp_ns=0)
    queue = ActionQueue(n_action_steps=8)
    assert queue.replace(chunk, now_ns=0) == 0 and len(queue) == 8
    assert queue.replace(chunk, now_ns=int(0.24e9)) == 2  # steps 0 and 1 are over, 2 (at 0.2 s) is nearest
    assert queue.pop().tolist() == [6.0, 7.0, 8.0] and len(queue) == 5
    assert queue.replace(chunk, now_ns=int(5e9)) == 7 and queue.pop().tolist() == [21.0, 22.0, 23.0]  # the last kept
    assert queue.pop() is None


def test_the_profile_must_offer_the_policys_cameras_and_joints(trained_policy):
    bundle = PolicyBundle.load(trained_policy)
    profile = load_profile(PROFILE)
    check_agreement(profile, bundle)
    with pytest.raises(PolicyError, match=r"missing camera\(s\) \['observation.images.wrist'\]"):
        check_agreement(replace(profile, cameras=profile.cameras[:1]), bundle)
    with pytest.raises(PolicyError, match="not the profile's joints"):
        check_agreement(replace(profile, joints=profile.joints[::-1]), bundle)
    assert bundle.assets.features.fps == 30
    with pytest.raises(PolicyError, match="trained on 30 fps data"):
        check_agreement(replace(profile, fps=15), bundle)


def test_a_lerobot_checkpoint_without_joint_names_takes_the_profiles_order(trained_policy):
    """LeRobot's config.json holds feature sizes, not names: the profile's order, same count."""
    bundle = PolicyBundle.load(trained_policy)
    profile = load_profile(PROFILE)
    count = len(profile.joints)
    features = replace(bundle.assets.features, state_names=[f"state_{i}" for i in range(count)],
                       action_names=[f"action_{i}" for i in range(count)])  # fmt: skip
    bundle.assets.features = features
    check_agreement(profile, bundle)
    with pytest.raises(PolicyError, match="not the profile's joints"):
        check_agreement(replace(profile, joints=profile.joints[:-1]), bundle)
