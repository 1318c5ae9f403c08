"""Flow matching: the time distribution, the interpolation, and sampling."""

import torch

from lerobot_policy.configuration import PI05Config
from lerobot_policy.flow import euler_sample, flow_loss, noisy_actions, sample_time


def test_time_is_beta_1_5_1_scaled_into_the_open_unit_interval():
    torch.manual_seed(0)
    t = sample_time(200_000, PI05Config.tiny())
    assert t.min() >= 0.001 and t.max() <= 1.0
    assert abs(t.mean().item() - (0.6 * 0.999 + 0.001)) < 0.003  # Beta(1.5, 1) has mean 0.6


def test_interpolation_ends_and_target():
    actions, noise = torch.randn(2, 10, 4), torch.randn(2, 10, 4)
    x1, u = noisy_actions(actions, noise, torch.ones(2))
    x0, _ = noisy_actions(actions, noise, torch.zeros(2))
    assert torch.equal(x1, noise) and torch.equal(x0, actions) and torch.equal(u, noise - actions)


def test_euler_with_the_exact_velocity_recovers_the_actions():
    actions, noise = torch.randn(3, 10, 4), torch.randn(3, 10, 4)
    exact = lambda x, t: noise - actions  # noqa: E731 - the straight path's constant velocity
    torch.testing.assert_close(euler_sample(exact, noise, steps=10), actions)


def test_flow_loss_ignores_padding_dimensions():
    target = torch.zeros(1, 10, 32)
    prediction = torch.zeros(1, 10, 32)
    prediction[..., 6:] = 100.0  # padding dimensions beyond the robot's 6
    assert flow_loss(prediction, target, action_dim=6) == 0


def test_flow_loss_ignores_steps_past_the_episode_end():
    target = torch.zeros(2, 10, 32)
    prediction = torch.ones(2, 10, 32)
    pad = torch.zeros(2, 10, dtype=torch.bool)
    pad[0, 7:] = True
    prediction[0, 7:] = 100.0  # the repeated last action past the end: no signal
    assert flow_loss(prediction, target, action_dim=6, pad=pad) == 1.0
    assert flow_loss(prediction, target, action_dim=6) > 1.0


def test_sampling_times_are_lerobots_grid_not_an_accumulated_sum():
    """t = 1 + step * dt per step (LeRobot, openpi); summing dt in float32 drifts."""
    seen = []

    def velocity(x, t):
        seen.append(t)
        return torch.zeros_like(x)

    euler_sample(velocity, torch.zeros(2, 3, 4), steps=10)
    expected = [torch.tensor(1.0 + step * (-1.0 / 10), dtype=torch.float32) for step in range(10)]
    assert all(torch.equal(t, e.expand(2)) for t, e in zip(seen, expected, strict=True))
    accumulated = torch.tensor(1.0)
    for _ in range(7):
        accumulated = accumulated + torch.tensor(-0.1)
    assert not torch.equal(accumulated, expected[7]), "the grid differs from the float32 sum"
