"""Acting without ROS: the actor fed by hand with a trained tiny policy and a clock the test moves."""

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from lerobot_drivers.profile import load_profile
from lerobot_policy.actor import ActingConfig, Actor, State
from lerobot_policy.bundle import PolicyBundle
from lerobot_policy.errors import PolicyError
from lerobot_policy.execution import ChunkExecutor
from lerobot_policy.runner import PolicyRunner
from lerobot_policy.safety import CommandLimits

ROOT = Path(__file__).resolve().parents[2]
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
UNLIMITED = CommandLimits(np.full(6, -np.inf), np.full(6, np.inf), np.inf)


@pytest.fixture(scope="module")
def runner(trained_policy):
    return PolicyRunner(PolicyBundle.load(trained_policy), steps=3)


class Clock:
    def __init__(self) -> None:
        self.ns = 10**18

    def __call__(self) -> int:
        return self.ns

    def advance(self, seconds: float) -> None:
        self.ns += round(seconds * 1e9)


class Harness:
    """An actor and what it handed out."""

    def __init__(self, runner, *, mode="rtc", limits=UNLIMITED, **config) -> None:
        self.clock, self.merged, self.statuses = Clock(), [], []
        self.actor = Actor(
            runner, ChunkExecutor(mode, 10), limits, ActingConfig(fps=30, **config), task="pick the cube",
            clock_ns=self.clock, on_chunk=self.merged.append, on_status=lambda: self.statuses.append(self.actor.status),
        )  # fmt: skip
        self.actor.start()

    def observe(self, state=None, names=JOINTS) -> None:
        for key in self.actor.runner.features.cameras:
            self.actor.on_image(key, np.full((120, 160, 3), 90, np.uint8))
        state = np.zeros(len(names)) if state is None else state
        self.actor.on_state(list(names), list(state), self.clock.ns)
        self.actor.wait_for_inference(30)


def test_a_fresh_state_starts_an_inference_and_the_ticks_play_its_chunk(runner):
    h = Harness(runner)
    assert h.actor.tick() is None and h.actor.chunks.stats.starved_ticks == 0  # nothing observed yet: waiting
    assert h.actor.status[0] == State.WAITING_FOR_OBSERVATION
    h.observe()
    assert len(h.merged) == 1 and h.actor.status[0] == State.RUNNING
    chunk = h.merged[0].chunk
    assert chunk.values.shape == (runner.config.chunk_size, 6) and chunk.joint_names == tuple(JOINTS)
    assert chunk.observation_stamp_ns == h.clock.ns and chunk.sequence == 1
    for k in range(3):
        h.clock.advance(1 / 30)
        np.testing.assert_array_equal(h.actor.tick(), chunk.values[k])
    stats = h.actor.statistics()
    assert stats["merged chunks"] == "1" and stats["starved ticks"] == "0" and stats["queued steps"] == "7"


def test_an_old_observation_empties_the_queue_and_holds(runner):
    h = Harness(runner, max_observation_age_s=0.5)
    h.observe()
    h.clock.advance(0.6)
    assert h.actor.tick() is None
    assert h.actor.status[0] == State.HOLDING_STALE_OBSERVATION and "0.60 s old" in h.actor.status[1]
    assert h.actor.chunks.queued() == 0


def test_joint_states_without_the_policys_joints_are_an_error_that_names_them(runner):
    h = Harness(runner)
    h.observe(np.zeros(7), names=[f"joint{i}" for i in range(1, 8)])
    state, message = h.actor.status
    assert state == State.ERROR and "not ['shoulder_pan'" in message and "joint_states topic" in message
    assert h.merged == [] and h.actor.tick() is None


def test_an_inference_that_throws_is_refused_and_nothing_is_commanded(runner, monkeypatch):
    def broken(*args):
        raise RuntimeError("CUDA error: an illegal memory access")

    h = Harness(runner)
    monkeypatch.setattr(runner, "infer", broken)
    h.observe()
    assert h.merged == [] and h.actor.refused == 1
    assert h.actor.status == (State.ERROR, "inference refused: CUDA error: an illegal memory access")
    assert h.actor.tick() is None


def test_a_chunk_with_nan_is_refused_whole(runner, monkeypatch):
    h = Harness(runner)
    monkeypatch.setattr(runner.normalizer, "unnormalize", lambda feature, values: values * np.nan)
    h.observe()
    assert h.merged == [] and h.actor.refused == 1 and "NaN or Inf actions" in h.actor.status[1]
    assert [h.actor.tick() for _ in range(5)] == [None] * 5


def test_a_chunk_inferred_before_a_disable_is_discarded(runner, monkeypatch):
    """The chunk in flight belongs to the time before the reset: it never joins the queue."""
    release, infer = threading.Event(), runner.infer
    monkeypatch.setattr(runner, "infer", lambda *args: release.wait(10) and infer(*args))
    h = Harness(runner)
    for key in runner.features.cameras:
        h.actor.on_image(key, np.zeros((120, 160, 3), np.uint8))
    h.actor.on_state(JOINTS, [0.0] * 6, h.clock.ns)
    h.actor.enable(False)
    release.set()
    h.actor.wait_for_inference(30)
    assert h.merged == [] and h.actor.chunks.stats.discarded_chunks == 1 and h.actor.chunks.queued() == 0


def test_enabled_again_the_actor_starts_over_from_a_fresh_observation(runner, monkeypatch):
    """Nothing is inferred while disabled, and the first chunk after is planned from the new
    observation alone: from frames that arrived after the enable, and guided by no step of a
    chunk from before (it would pull the arm back)."""
    plans, infer = [], runner.infer
    monkeypatch.setattr(runner, "infer", lambda observation, plan=None: plans.append(plan) or infer(observation, plan))
    h = Harness(runner)
    h.observe()
    h.clock.advance(1 / 30)
    h.actor.tick()
    h.actor.enable(False)
    assert h.actor.status == (State.INACTIVE, "disabled")
    for _ in range(3):
        h.clock.advance(1 / 30)
        h.observe(np.full(6, 0.5))
        assert h.actor.tick() is None
    assert len(plans) == 1 and h.actor.chunks.queued() == 0, "nothing inferred, nothing queued while disabled"
    h.clock.advance(0.01)
    h.actor.enable(True)
    h.actor.on_state(JOINTS, [0.5] * 6, h.clock.ns)
    assert h.actor.tick() is None and len(plans) == 1, "the frames are from before the enable: not acted on"
    assert h.actor.status == (State.WAITING_FOR_OBSERVATION, "waiting for the state and every camera since enabled")
    h.observe(np.full(6, 0.5))
    assert len(plans) == 2 and plans[1] is None, "the first chunk after is not guided by one from before"
    h.clock.advance(1 / 30)
    np.testing.assert_array_equal(h.actor.tick(), h.merged[-1].chunk.values[0])


def test_after_simulated_time_restarts_the_actor_acts_on_new_observations(runner):
    """A simulation reset or a looped bag sends the clock back: observations received since
    are acted on, not held back as older than the enable."""
    h = Harness(runner)
    h.clock.advance(-60.0)
    h.observe()
    assert len(h.merged) == 1 and h.actor.status[0] == State.RUNNING


def test_targets_start_from_the_measured_position_and_move_at_most_max_step(runner):
    limits = CommandLimits(np.full(6, -0.2), np.full(6, 0.2), 0.05)
    h = Harness(runner, limits=limits)
    measured = np.full(6, 0.1)
    h.observe(measured)
    chunk = h.merged[0].chunk.values
    targets = np.array([h.actor.tick() for _ in range(5)])
    expected, previous = [], measured
    for row in chunk[:5]:  # a plain loop: clip to the limits, then move at most 0.05 from the last target
        previous = previous + np.clip(np.clip(row, -0.2, 0.2) - previous, -0.05, 0.05)
        expected.append(previous)
    np.testing.assert_allclose(targets, expected, atol=1e-6)  # the measured state is float32
    assert limits.limited_steps > 0


def test_a_trajectory_interface_gets_the_limited_rest_of_the_chunk_and_no_tick_targets(runner):
    h = Harness(runner, limits=CommandLimits(np.full(6, -1.0), np.full(6, 1.0), 0.1), per_chunk=True, refill_steps=10)
    h.observe(np.full(6, 0.5))
    merged = h.merged[0]
    assert merged.pending.shape == (10, 6) and merged.first_due_ns == h.clock.ns  # no tick yet: due now
    assert np.abs(merged.pending[0] - 0.5).max() <= 0.1 + 1e-12
    assert (np.abs(np.diff(merged.pending, axis=0)) <= 0.1 + 1e-12).all() and np.abs(merged.pending).max() <= 1.0
    assert h.actor.tick() is None and h.actor.chunks.queued() == 9  # the tick keeps time, the trajectory moves
    h.clock.advance(0.01)
    h.actor.on_state(JOINTS, [0.5] * 6, h.clock.ns)  # the next chunk: its first step is due a period after the tick
    h.actor.wait_for_inference(30)
    assert h.merged[1].first_due_ns == h.clock.ns - round(0.01e9) + round(1e9 / 30)


def test_a_dry_run_publishes_chunks_and_never_a_target(runner):
    h = Harness(runner, dry_run=True, per_chunk=True)
    h.observe()
    assert len(h.merged) == 1 and h.merged[0].pending is None and h.actor.tick() is None


def test_a_trajectory_cannot_be_ensembled(runner):
    with pytest.raises(PolicyError, match="use chunk execution rtc or replace"):
        Harness(runner, mode="ensemble", per_chunk=True)


def test_command_limits_come_from_the_profile_and_refuse_nan():
    profile = load_profile(ROOT / "config" / "ros2_control_arm.yaml")
    limits = CommandLimits.from_profile(profile, fps=30)
    assert limits.max_step == pytest.approx(0.15 * 100 / 30)  # max_step_rad per cycle at rate_hz
    np.testing.assert_allclose(limits.low[[0, 3]], [-2.9, -3.07])
    out = limits.path(np.array([[5.0, 0, 0, -1, 0, 0, 0]]), None)
    np.testing.assert_allclose(out[0, :2], [2.9, 0.0])
    with pytest.raises(PolicyError, match="NaN or Inf"):
        limits.path(np.array([[np.nan] * 7]), None)


def test_the_acting_core_imports_without_ros():
    """The actor, runner and executor run where rclpy and ROS messages cannot be imported."""
    blocked = ("rclpy", "lerobot_msgs", "sensor_msgs", "std_msgs", "trajectory_msgs", "builtin_interfaces")
    code = f"import sys; sys.modules.update(dict.fromkeys({blocked!r})); import lerobot_policy.actor"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
