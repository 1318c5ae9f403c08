"""Alignment policies on hand-made streams."""

import numpy as np
import pytest

from lerobot_recorder.align import AlignPolicy, StreamTimes, align, select
from lerobot_recorder.errors import MappingError

MS = 1_000_000


def times(stamps_ms, name="s"):
    return StreamTimes.build(name, [s * MS for s in stamps_ms], [s * MS for s in stamps_ms])


def test_hold_takes_the_latest_within_max_age():
    grid = np.array([10, 20, 30, 40]) * MS
    picks = select(times([0, 15, 25]), grid, AlignPolicy("hold", max_age_s=0.012), 10 * MS)
    assert picks.tolist() == [0, 1, 2, -1]  # at 40 ms the newest sample is 15 ms old


def test_nearest_looks_both_ways_within_tolerance():
    grid = np.array([10, 20, 30]) * MS
    picks = select(times([9, 22, 45]), grid, AlignPolicy("nearest", tolerance_s=0.003), 10 * MS)
    assert picks.tolist() == [0, 1, -1]


def test_drop_never_reuses_a_sample():
    grid = np.array([10, 20, 30]) * MS
    picks = select(times([9, 11]), grid, AlignPolicy("drop"), 10 * MS)
    assert picks.tolist() == [0, 1, -1]


def test_zero_and_out_of_order_stamps_are_repaired_and_counted():
    stream = StreamTimes.build("s", np.array([0, 30 * MS, 20 * MS]), [10 * MS, 31 * MS, 32 * MS])
    assert stream.zero.sum() == 1 and stream.backwards.sum() == 1
    assert stream.stamps.tolist() == [10 * MS, 20 * MS, 30 * MS]
    assert stream.order.tolist() == [0, 2, 1]  # sorted position -> message index
    quality = align({"s": stream}, {"s": AlignPolicy("hold", 1.0)}, 15 * MS, 40 * MS, 100).quality["s"]
    assert (quality.zero_stamps, quality.out_of_order) == (0, 1), "counted within the episode only"


def test_camera_latency_offset_moves_stamps_back():
    stream = StreamTimes.build("cam", [100 * MS], [101 * MS], offset_ns=30 * MS)
    assert stream.stamps.tolist() == [70 * MS]


def test_frames_without_every_stream_are_dropped_and_reported():
    streams = {"a": times(range(0, 100, 10), "a"), "b": times([0, 10, 20, 60, 70, 80, 90], "b")}
    policies = {"a": AlignPolicy("hold", 0.015), "b": AlignPolicy("nearest", tolerance_s=0.002)}
    result = align(streams, policies, 0, 91 * MS, fps=100)
    assert result.dropped_frames == 3  # 30, 40 and 50 ms have no b sample within 2 ms
    assert result.quality["b"].gaps == [(0.02, 0.04)]
    assert len(result.grid_ns) == 7


def test_bad_policies_are_refused():
    with pytest.raises(MappingError, match="'latest' is unknown"):
        AlignPolicy("latest")
    with pytest.raises(MappingError, match="must be > 0"):
        AlignPolicy("hold", max_age_s=0)
