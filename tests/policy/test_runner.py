"""Acting with a trained policy, without ROS: checks before anything moves, guided chunks."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from lerobot_drivers.profile import load_profile
from lerobot_policy.bundle import PolicyBundle
from lerobot_policy.errors import PolicyError
from lerobot_policy.nodes.policy_node import check_agreement
from lerobot_policy.runner import Observation, PolicyRunner, RTCPlan

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
    actions, normalized = runner.infer(observation(runner))
    assert actions.shape == normalized.shape == (runner.config.chunk_size, 6) and np.isfinite(actions).all()
    np.testing.assert_allclose(runner.normalizer.unnormalize("action", torch.as_tensor(normalized)).numpy(), actions)
    # the same seed and observation give the same chunk: sampling noise comes from the runner's generator
    first, _ = PolicyRunner(runner.bundle, steps=3, seed=7).infer(observation(runner))
    second, _ = PolicyRunner(runner.bundle, steps=3, seed=7).infer(observation(runner))
    np.testing.assert_array_equal(first, second)


def test_a_guided_chunk_continues_the_committed_steps(runner):
    """The committed steps of a chunk, then a new chunk from the same observation with other
    noise: guided, its first steps land on the committed ones; unguided, they do not."""
    _, committed = PolicyRunner(runner.bundle, steps=5, seed=1).infer(observation(runner))
    _, free_norm = PolicyRunner(runner.bundle, steps=5, seed=2).infer(observation(runner))
    plan = RTCPlan(committed[4:10], delay=3, execution_horizon=8)
    guided, guided_norm = PolicyRunner(runner.bundle, steps=5, seed=2).infer(observation(runner), plan)
    gap = lambda chunk: float(np.abs(chunk[:3] - committed[4:7]).max())  # noqa: E731
    assert gap(guided_norm) < 0.5 * gap(free_norm)
    assert np.isfinite(guided).all()


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
