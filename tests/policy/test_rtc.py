"""Real-time chunking against plain loops written from the paper's formulas, one test per
LeRobot fix, and guided sampling on a real (tiny) model."""

import math

import numpy as np
import pytest
import torch
from pi05_tiny import observation_batch, tiny

from lerobot_policy.errors import PolicyError
from lerobot_policy.rtc import (
    Guidance,
    LatencyTracker,
    guidance_weight,
    pad_committed,
    prefix_weights,
    steps_to_drop,
)


def plain_weight(i: int, delay: int, horizon: int, schedule: str) -> float:
    if i < delay:
        return 1.0
    if i >= horizon:
        return 0.0
    if schedule == "ones":
        return 1.0
    if schedule == "zeros":
        return 0.0
    linear = (horizon - i) / (horizon - delay + 1)
    return linear if schedule == "linear" else linear * (math.exp(linear) - 1) / (math.e - 1)


@pytest.mark.parametrize("schedule", ["linear", "exp", "ones", "zeros"])
@pytest.mark.parametrize(("delay", "horizon", "chunk"), [(3, 10, 50), (0, 10, 50), (4, 4, 20), (2, 60, 50)])
def test_prefix_weights_follow_the_formula(schedule, delay, horizon, chunk):
    ours = prefix_weights(delay, horizon, chunk, schedule)
    end = min(horizon, chunk)
    expected = [plain_weight(i, min(delay, end), end, schedule) for i in range(chunk)]
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-6, atol=1e-7)
    with pytest.raises(PolicyError, match="RTC schedule 'cosine'"):
        prefix_weights(delay, horizon, chunk, "cosine")


def test_guidance_weight_follows_the_formula():
    for t in (0.05, 0.3, 0.5, 0.9, 0.99):
        tau = 1 - t
        plain = min(10.0, (1 - tau) / tau * ((1 - tau) ** 2 + tau**2) / (1 - tau) ** 2)
        assert guidance_weight(t, 10.0) == pytest.approx(plain)
    assert guidance_weight(1.0, 5.0) == 5.0  # pure noise: the cap (the formula is infinite there)
    assert guidance_weight(0.0, 5.0) == 0.0


def test_guided_velocity_is_the_vector_jacobian_product():
    """For v(x) = A x + b per step, d(x - t v)/dx = I - t A: through the model the correction is
    (I - t A)^T e (PI's reference); LeRobot's is e."""
    g = torch.Generator().manual_seed(0)
    horizon, dims, action_dim = 6, 4, 3
    a = torch.randn(dims, dims, generator=g) * 0.3
    b = torch.randn(dims, generator=g)
    committed = torch.randn(1, horizon, dims, generator=g)
    weights = prefix_weights(2, 5, horizon)
    guided = Guidance(committed, weights, action_dim, max_weight=10.0, through_model=True).wrap(
        lambda x, t: x @ a.T + b
    )
    lerobots = Guidance(committed, weights, action_dim, max_weight=10.0).wrap(lambda x, t: x @ a.T + b)
    x = torch.randn(1, horizon, dims, generator=g)
    t = torch.tensor([0.7])
    out = guided(x, t)
    xn, an, bn, cn, wn = x.numpy()[0], a.numpy(), b.numpy(), committed.numpy()[0], weights.numpy()
    v = xn @ an.T + bn
    clean = xn - 0.7 * v
    error = (cn - clean) * wn[:, None]
    error[:, action_dim:] = 0.0  # padding dims are not guided
    correction = error @ (np.eye(dims) - 0.7 * an)
    np.testing.assert_allclose(out.numpy()[0], v - guidance_weight(0.7, 10.0) * correction, rtol=1e-5, atol=1e-5)
    # LeRobot 0.6.1 computes v before x requires a gradient: its "VJP" is the weighted error itself
    np.testing.assert_allclose(lerobots(x, t).numpy()[0], v - guidance_weight(0.7, 10.0) * error, rtol=1e-5, atol=1e-5)


def test_a_short_prefix_is_padded_with_its_last_step_not_zeros():
    steps = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    padded = pad_committed(steps, 5)
    assert padded.tolist() == [[1.0, 2.0], [3.0, 4.0], [3.0, 4.0], [3.0, 4.0], [3.0, 4.0]]
    assert pad_committed(torch.zeros(7, 2), 5).shape == (5, 2)
    with pytest.raises(PolicyError, match="no committed steps"):
        pad_committed(torch.zeros(0, 2), 5)


def test_the_merge_drops_what_was_consumed_never_more_than_the_delay():
    assert steps_to_drop(estimated_delay=5, consumed=3) == 3  # faster than estimated: 2 steps are not lost
    assert steps_to_drop(estimated_delay=5, consumed=8) == 5
    assert steps_to_drop(estimated_delay=0, consumed=4) == 0


def test_warm_up_calls_stay_out_of_the_delay():
    tracker = LatencyTracker(window=3, warmup=1)
    assert tracker.delay_steps(1 / 30) == 0
    tracker.add(2.5)  # the first call loads kernels: planned with only until a warm call is known
    assert tracker.delay_steps(1 / 30) == 75
    for seconds in (0.1, 0.12, 0.09):
        tracker.add(seconds)
    assert tracker.delay_steps(1 / 30) == 4  # ceil(0.12 * 30)
    tracker.add(0.05)
    tracker.add(0.05)
    tracker.add(0.05)
    assert tracker.delay_steps(1 / 30) == 2  # the window forgets
    assert tracker.quantile(0.5) == pytest.approx(0.05)


def test_guided_sampling_agrees_with_the_committed_steps():
    """On a tiny pi05: the new chunk's committed steps land near the previous chunk's, the
    unguided chunk's do not; steps past the horizon are free."""
    policy = tiny()
    config = policy.config
    g = torch.Generator().manual_seed(1)
    batch = observation_batch(config, g)
    shape = (1, config.chunk_size, config.max_action_dim)
    committed = pad_committed(torch.full((3, config.max_action_dim), 0.8), config.chunk_size)[None]
    guidance = Guidance(committed, prefix_weights(3, 6, config.chunk_size), action_dim=6)
    noise = torch.randn(shape, generator=g)
    free = policy.sample_actions(batch, noise)
    guided = policy.sample_actions(batch, noise, guidance=guidance)
    gap_free = (free[0, :3, :6] - 0.8).abs().max()
    gap_guided = (guided[0, :3, :6] - 0.8).abs().max()
    assert gap_guided < 0.3 * gap_free
    assert torch.isfinite(guided).all()


def test_a_delay_as_long_as_the_horizon_still_guides_the_seam():
    """LeRobot's horizon is fixed: at delay = horizon the first step after the delay (the seam)
    gets weight 0. The plan's soft region reaches at least twice the delay."""
    from lerobot_policy.configuration import PI05Config
    from lerobot_policy.runner import RTCPlan

    config = PI05Config.tiny(chunk_size=50, n_action_steps=50)
    plan = RTCPlan(np.zeros((12, 6), np.float32), delay=10, execution_horizon=10)
    weights = plan.guidance(config, 6, torch.device("cpu")).weights
    expected = [plain_weight(i, 10, 20, "linear") for i in range(50)]
    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-6)
    assert weights[10] > 0.9
    short = RTCPlan(np.zeros((5, 6), np.float32), delay=3, execution_horizon=10)  # LeRobot's own weights
    np.testing.assert_allclose(short.guidance(config, 6, torch.device("cpu")).weights.numpy(),
                               [plain_weight(i, 3, 10, "linear") for i in range(50)], rtol=1e-6)  # fmt: skip
