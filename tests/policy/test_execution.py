"""Chunk execution, tick by tick: merges, overtaken steps, starvation, resets, ensembles."""

import numpy as np
import pytest

from lerobot_policy.errors import PolicyError
from lerobot_policy.execution import ChunkExecutor, ensemble


def chunk(start: float, steps: int = 10, joints: int = 2) -> tuple[np.ndarray, np.ndarray]:
    actions = np.stack([np.full(joints, start + k) for k in range(steps)])
    return actions, actions / 10.0


def run(executor: ChunkExecutor, ticks: int) -> list[float | None]:
    out = []
    for _ in range(ticks):
        step = executor.next_step()
        out.append(None if step is None else float(step[0]))
    return out


def test_a_chunk_arriving_late_skips_the_overtaken_steps():
    executor = ChunkExecutor("replace", n_action_steps=10)
    assert run(executor, 2) == [None, None] and executor.stats.starved_ticks == 0  # waiting for the first chunk
    ticket = executor.start_inference(delay=0)
    run(executor, 3)  # three ticks pass while the model thinks
    assert executor.merge(ticket, *chunk(0.0)) == 3
    assert run(executor, 2) == [3.0, 4.0]
    run(executor, 5)
    assert run(executor, 2) == [None, None] and executor.stats.starved_ticks == 2  # ran dry: starved


@pytest.mark.parametrize("mode", ["rtc", "replace", "ensemble"])
def test_the_next_inference_starts_with_half_a_chunk_left_unless_the_delay_needs_more(mode):
    executor = ChunkExecutor(mode, n_action_steps=10)
    assert executor.needs_refill(delay=1)  # nothing queued
    executor.merge(executor.start_inference(delay=0), *chunk(0.0))
    due = []
    for _ in range(10):
        due.append(executor.needs_refill(delay=1))
        executor.next_step()
    assert due == [False] * 5 + [True] * 5  # 10 left ... 6 left: not yet; 5 left: half a chunk
    executor.merge(executor.start_inference(delay=0), *chunk(0.0))
    assert executor.needs_refill(delay=8)  # a 10-step queue covers no 8-step delay with 2 to spare
    assert not executor.needs_refill(delay=1, refill_steps=9) and executor.needs_refill(delay=1, refill_steps=10)


def test_rtc_drops_min_of_the_planned_delay_and_what_was_consumed():
    executor = ChunkExecutor("rtc", n_action_steps=10)
    executor.merge(executor.start_inference(delay=0), *chunk(0.0))
    ticket = executor.start_inference(delay=4)
    run(executor, 2)  # faster than planned: only 2 steps consumed
    assert executor.merge(ticket, *chunk(100.0)) == 2
    ticket = executor.start_inference(delay=4)
    run(executor, 6)  # slower than planned: the chunk was conditioned on 4
    assert executor.merge(ticket, *chunk(200.0)) == 4
    assert executor.committed().shape == (6, 2)


def test_a_chunk_of_an_epoch_before_a_reset_is_discarded():
    executor = ChunkExecutor("rtc", n_action_steps=10)
    ticket = executor.start_inference(delay=0)
    executor.reset()
    assert executor.merge(ticket, *chunk(0.0)) is None
    assert executor.stats.discarded_chunks == 1 and executor.queued() == 0
    assert executor.next_step() is None  # starved: the servos hold their last target


def test_boundary_and_inner_steps_are_told_apart():
    executor = ChunkExecutor("replace", n_action_steps=10)
    executor.merge(executor.start_inference(0), *chunk(0.0))  # steps of 1 inside
    run(executor, 5)
    executor.merge(executor.start_inference(0), *chunk(50.0))
    run(executor, 1)
    assert executor.stats.largest_inner_step == 1.0
    assert executor.stats.largest_boundary_step == 50.0 - 4.0


def test_the_ensemble_averages_every_prediction_for_a_tick():
    executor = ChunkExecutor("ensemble", n_action_steps=10, ensemble_m=0.5)
    executor.merge(executor.start_inference(0), *chunk(0.0))
    run(executor, 2)
    executor.merge(executor.start_inference(0), *chunk(10.0))  # tick 2: old says 2, new says 10
    w = np.exp(-0.5 * np.arange(2))
    assert run(executor, 1)[0] == pytest.approx((w[0] * 2.0 + w[1] * 10.0) / w.sum())
    np.testing.assert_allclose(ensemble([np.ones(2), 3 * np.ones(2)], 0.0), [2.0, 2.0])


def test_an_unknown_mode_is_named():
    with pytest.raises(PolicyError, match="chunk execution mode 'blend'"):
        ChunkExecutor("blend", 10)
