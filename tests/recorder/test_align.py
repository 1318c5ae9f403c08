"""Alignment policies on hand-made streams."""

import numpy as np
import pytest

from lerobot_recorder.align import AlignPolicy, Cut, StreamTimes, align, select
from lerobot_recorder.errors import MappingError

MS = 1_000_000


def times(stamps_ms, name="s"):
    return StreamTimes.build(name, [s * MS for s in stamps_ms], [s * MS for s in stamps_ms])


def test_hold_takes_the_latest_within_max_age():
    grid = np.array([10, 20, 30, 40]) * MS
    picks = select(times([0, 15, 25]), grid, AlignPolicy("hold", max_age_s=0.012), 10 * MS)
    assert picks.tolist() == [0, 1, 2, -1]  # at 40 ms the newest sample is 15 ms old


def test_nearest_looks_both_ways_within_tolerance_then_fills_from_a_neighbour():
    grid = np.array([10, 20, 30, 40]) * MS
    policy = AlignPolicy("nearest", tolerance_s=0.003, fill_periods=1.5)
    picks = select(times([9, 22, 45, 70]), grid, policy, 10 * MS)
    assert picks.tolist() == [0, 1, 1, 2]  # 30 ms: 22 is 8 ms off (filled); 40 ms: 45 is 5 ms off (filled)
    assert select(times([9, 60]), grid, policy, 10 * MS).tolist() == [0, 0, -1, -1]  # 15 ms is too far


def test_drop_never_reuses_a_sample():
    grid = np.array([10, 20, 30]) * MS
    picks = select(times([9, 11]), grid, AlignPolicy("drop"), 10 * MS)
    assert picks.tolist() == [0, 1, -1]


def test_zero_and_out_of_order_stamps_are_repaired_and_counted():
    stream = StreamTimes.build("s", np.array([0, 30 * MS, 20 * MS]), [10 * MS, 31 * MS, 32 * MS])
    assert stream.zero.sum() == 1 and stream.backwards.sum() == 1
    assert stream.stamps.tolist() == [10 * MS, 20 * MS, 30 * MS]
    assert stream.order.tolist() == [0, 2, 1]  # sorted position -> message index
    (run,) = align({"s": stream}, {"s": AlignPolicy("hold", 1.0)}, 15 * MS, 40 * MS, 100)
    quality = run.quality["s"]
    assert (quality.zero_stamps, quality.out_of_order) == (0, 1), "counted within the episode only"


def test_camera_latency_offset_moves_stamps_back():
    stream = StreamTimes.build("cam", [100 * MS], [101 * MS], offset_ns=30 * MS)
    assert stream.stamps.tolist() == [70 * MS]


def test_every_tick_is_a_frame_and_a_stale_stream_cuts_the_episode():
    """b misses 30 to 50 ms (beyond its fill bound): the ticks before and after are two
    episodes, each on an unbroken grid, and the cut names b."""
    streams = {"a": times(range(0, 100, 10), "a"), "b": times([0, 10, 20, 60, 70, 80, 90], "b")}
    policies = {"a": AlignPolicy("hold", 0.015), "b": AlignPolicy("nearest", tolerance_s=0.002, fill_periods=0.5)}
    first, second = align(streams, policies, 0, 91 * MS, fps=100)
    assert first.grid_ns.tolist() == [0, 10 * MS, 20 * MS] and second.grid_ns.tolist() == [
        60 * MS + k * 10 * MS for k in range(4)
    ]
    assert first.cut_after == Cut(30 * MS, 3, ("b",)) and second.cut_after is None
    assert first.quality["b"].filled_frames == 0


def test_a_missed_window_is_filled_and_counted():
    streams = {"a": times(range(0, 100, 10), "a"), "b": times([0, 10, 20, 40, 50, 60, 70, 80, 90], "b")}
    policies = {"a": AlignPolicy("hold", 0.015), "b": AlignPolicy("nearest", tolerance_s=0.002)}
    (run,) = align(streams, policies, 0, 91 * MS, fps=100)
    assert len(run.grid_ns) == 10 and run.cut_after is None
    assert run.quality["b"].filled_frames == 1 and run.quality["b"].duplicated_frames == 1


def test_ticks_before_every_stream_is_there_are_trimmed_not_cut():
    streams = {"a": times(range(0, 100, 10), "a"), "b": times(range(40, 100, 10), "b")}
    policies = {"a": AlignPolicy("hold", 0.015), "b": AlignPolicy("nearest", tolerance_s=0.002, fill_periods=0.5)}
    (run,) = align(streams, policies, 0, 91 * MS, fps=100)
    assert run.trimmed_frames == 4 and run.grid_ns[0] == 40 * MS and run.cut_after is None


def test_bad_policies_are_refused():
    with pytest.raises(MappingError, match="'latest' is unknown"):
        AlignPolicy("latest")
    with pytest.raises(MappingError, match="must be > 0"):
        AlignPolicy("hold", max_age_s=0)
