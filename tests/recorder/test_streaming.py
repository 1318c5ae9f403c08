"""One read of a bag against two passes: the same dataset; and two passes where one read cannot."""

import logging
from dataclasses import replace

import numpy as np
import pytest

from lerobot_drivers.cameras import decode_index
from lerobot_recorder import convert as convert_module
from lerobot_recorder import streaming
from lerobot_recorder.convert import convert
from lerobot_recorder.reader import DatasetReader
from lerobot_recorder.stats import ImageStats, sample_count
from lerobot_recorder.streaming import StreamingNotPossible
from lerobot_recorder.synthetic import SyntheticArm, split_bag, write_bag

TWO_EPISODES = [(0, 2.0, "pick the cube"), (2.02, 4.0, "place it")]  # the task changes between them
CASES = {
    "events, jitter, drops, zero stamps": (SyntheticArm(drop_every=9, zero_stamp_every=11, jitter_s=0.003), {}, {}),
    "gaps": (SyntheticArm(), {"events": False}, {"segmentation": "gap", "gap_s": 0.3, "task": "stack"}),
    "whole bag": (SyntheticArm(), {"events": False}, {"segmentation": "bag", "task": "stack"}),
    "frames late within the window": (SyntheticArm(late_every=7, late_s=0.2), {}, {}),
    "sqlite3, split": (SyntheticArm(jitter_s=0.004), {"storage": "sqlite3"}, {}),
    "no events: task changes and lagging state stamps": (SyntheticArm(state_lag_s=0.03), {"events": False}, {}),
}


def two_passes(monkeypatch):
    def refuse(*args, **kwargs):
        raise StreamingNotPossible("two passes asked for")
        yield

    monkeypatch.setattr(convert_module, "streamed_jobs", refuse)


def written(root) -> list[dict]:
    """Every episode's columns and the index embedded in each video frame."""
    reader = DatasetReader(root)
    episodes = []
    for i in range(reader.num_episodes):
        data = reader.episode_data(i)
        frames = {
            key: [decode_index(f) for f in reader.video_frames(i, key, list(range(len(data["index"]))))]
            for key in reader.video_keys
        }
        episodes.append({**data, **frames})
    return episodes


def assert_same(one, two):
    assert len(one) == len(two)
    for a, b in zip(one, two, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize("case", list(CASES))
def test_one_read_writes_what_two_passes_write(tmp_path, spec, monkeypatch, caplog, case):
    arm, bag_options, options = CASES[case]
    bag = write_bag(tmp_path / "bag", arm, TWO_EPISODES, **bag_options)
    if case.endswith("split"):
        split_bag(bag, 3)
    with caplog.at_level(logging.WARNING):
        streamed = convert([bag], spec, tmp_path / "one", codec="libx264", **options)
    assert "two passes" not in caplog.text
    with monkeypatch.context() as patch:
        two_passes(patch)
        reference = convert([bag], spec, tmp_path / "two", codec="libx264", **options)
    assert streamed == reference  # quality reports included
    assert_same(written(tmp_path / "one"), written(tmp_path / "two"))
    if case.startswith("frames late"):
        assert any(r["streams"]["observation.images.front"]["out_of_order"] > 0 for r in streamed)


def test_action_from_the_next_state_streams_too(tmp_path, spec, monkeypatch):
    bag = write_bag(tmp_path / "bag", SyntheticArm(), TWO_EPISODES)
    no_action = replace(spec, action_topic=None)
    streamed = convert([bag], no_action, tmp_path / "one", codec="libx264")
    two_passes(monkeypatch)
    assert convert([bag], no_action, tmp_path / "two", codec="libx264") == streamed
    assert_same(written(tmp_path / "one"), written(tmp_path / "two"))


def test_stamps_later_than_the_window_are_converted_in_two_passes(tmp_path, spec, caplog):
    bag = write_bag(tmp_path / "bag", SyntheticArm(late_every=10, late_s=1.0), TWO_EPISODES)
    with caplog.at_level(logging.WARNING):
        reports = convert([bag], spec, tmp_path / "ds", codec="libx264")
    assert "converting in two passes" in caplog.text and "behind the newest" in caplog.text
    assert [r["task"] for r in reports] == ["pick the cube", "place it"]
    assert all(r["streams"]["observation.images.front"]["out_of_order"] > 0 for r in reports)
    front = written(tmp_path / "ds")[0]["observation.images.front"]
    assert front == sorted(front), "frames in stamp order, late ones in their place"


@pytest.mark.parametrize("limit", [("STALL_S", 0.2), ("BUFFER_LIMIT_BYTES", 100_000)])
def test_a_stalled_stream_is_converted_in_two_passes(tmp_path, spec, monkeypatch, caplog, limit):
    """A stream that pauses holds every camera message back: past a limit, two passes take over."""
    monkeypatch.setattr(streaming, *limit)  # below what the window itself holds: any bag stalls
    bag = write_bag(tmp_path / "bag", SyntheticArm(), TWO_EPISODES)
    with caplog.at_level(logging.WARNING):
        reports = convert([bag], spec, tmp_path / "ds", codec="libx264")
    assert "messages wait for a stream that stalls" in caplog.text
    assert len(reports) == 2


@pytest.mark.parametrize("n", [1, 99, 100, 201, 1000, 4097])
def test_image_stats_sample_evenly_spaced_frames_without_knowing_their_number(n):
    stats = ImageStats()
    values = (np.arange(n) * 7) % 256
    for value in values:
        stats.add(np.full((1, 1, 3), value, np.uint8))
    stride = stats.stride
    assert stride & (stride - 1) == 0, "a power of two"
    sampled = values[::stride]
    assert sample_count(n) <= len(sampled) <= 2 * sample_count(n)
    np.testing.assert_array_equal(stats.histogram[0], np.bincount(sampled, minlength=256))
    assert stats.result()["count"][0] == len(sampled)
