"""Bag -> dataset -> read back, checked against an independent re-computation of alignment."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lerobot_drivers.cameras import decode_index
from lerobot_drivers.images import compressed_to_rgb, image_to_rgb
from lerobot_recorder.bag import Bag
from lerobot_recorder.convert import convert
from lerobot_recorder.errors import MappingError
from lerobot_recorder.reader import DatasetReader
from lerobot_recorder.synthetic import SyntheticArm, split_bag, write_bag
from lerobot_recorder.validate import validate


def stamped(bag_path: Path, topic: str) -> list[tuple[int, object]]:
    """(stamp ns, message) with header stamps, zero stamps replaced by receive time."""
    with Bag([bag_path]) as bag:
        out = []
        for m in bag.messages([topic]):
            header = m.data.header.stamp.sec * 10**9 + m.data.header.stamp.nanosec
            out.append((header or m.log_time_ns, m.data))
    return out


def expected_frames(bag_path: Path, spec, start_ns: int, end_ns: int) -> tuple[list[list[dict]], dict, int]:
    """Plain-loop reference of the documented alignment: the source message of every frame,
    as runs of complete ticks (trimmed at the ends, cut at interior holes); and how many
    camera frames were filled from outside their tolerance."""
    streams = {
        "state": stamped(bag_path, spec.state_topic),
        "action": stamped(bag_path, spec.action_topic),
        **{c.name: stamped(bag_path, c.topic) for c in spec.cameras},
    }
    period = 1e9 / spec.fps
    inside = {k: sorted((s, i) for i, (s, _) in enumerate(v) if start_ns <= s < end_ns) for k, v in streams.items()}
    first = max(v[0][0] for v in inside.values())
    last = min(v[-1][0] for v in inside.values())
    ticks, filled = [], 0
    for t in (first + round(k * period) for k in range(int((last + 1 - first) / period) + 2)):
        if t > last:
            break
        frame = {}
        for name in inside:
            policy = spec.align["images"] if name in {c.name for c in spec.cameras} else spec.align[name]
            if policy.policy == "hold":
                before = [(s, i) for i, (s, _) in enumerate(streams[name]) if s <= t]
                ok = before and t - max(before)[0] <= policy.max_age_s * 1e9
                frame[name] = max(before)[1] if ok else None
            else:
                s, i = min(((s, i) for i, (s, _) in enumerate(streams[name])), key=lambda x: abs(x[0] - t))
                reach = max(policy.tolerance_s * 1e9, policy.fill_periods * period)
                frame[name] = i if abs(s - t) <= reach else None
                filled += frame[name] is not None and abs(s - t) > policy.tolerance_s * 1e9
        ticks.append(frame if all(v is not None for v in frame.values()) else None)
    runs, run = [], []
    for frame in [*ticks, None]:
        if frame is None:
            if len(run) >= 2:
                runs.append(run)
            run = []
        else:
            run.append(frame)
    return runs, streams, filled


def image_of(message) -> np.ndarray:
    return compressed_to_rgb(message) if hasattr(message, "format") else image_to_rgb(message)


@pytest.mark.parametrize(
    ("storage", "parts", "image_format"),
    [("mcap", 1, "png"), ("mcap", 3, "png"), ("sqlite3", 1, "png"), ("sqlite3", 3, "png"), ("mcap", 1, "jpeg")],
    ids=["mcap", "mcap-split", "sqlite3", "sqlite3-split", "mcap-jpeg"],
)
def test_round_trip(tmp_path, spec, storage, parts, image_format):
    """jpeg: what cameras publish, lossy before the codec; png: exact frames."""
    arm = SyntheticArm(drop_every=9, zero_stamp_every=11, jitter_s=0.003, compressed_format=image_format)
    bag = write_bag(tmp_path / "bag", arm, [(0, 2.0, "pick the cube"), (2.5, 4.0, "place it")], storage=storage)
    if parts > 1:
        split_bag(bag, parts)
    reports = convert([bag], spec, tmp_path / "ds", codec="libx264")
    assert validate(tmp_path / "ds") == []
    reader = DatasetReader(tmp_path / "ds")
    assert reader.num_episodes == 2 and reader.tasks == ["pick the cube", "place it"]
    events = stamped(bag, spec.events_topic)
    for episode_index in range(2):
        start, end = events[2 * episode_index][0], events[2 * episode_index + 1][0]
        runs, streams, filled = expected_frames(bag, spec, start, end)
        assert len(runs) == 1, "single dropped camera frames are filled: no cut"
        frames = runs[0]
        data = reader.episode_data(episode_index)
        assert len(data["index"]) == len(frames) == reports[episode_index]["frames"]
        expected_state = np.array([streams["state"][f["state"]][1].position for f in frames], dtype=np.float32)
        np.testing.assert_array_equal(data["observation.state"], expected_state)
        expected_action = np.array([streams["action"][f["action"]][1].position for f in frames], dtype=np.float32)
        np.testing.assert_array_equal(data["action"], expected_action)
        np.testing.assert_allclose(data["timestamp"], np.arange(len(frames)) / spec.fps, atol=1e-6)
        for camera in spec.cameras:
            key = f"observation.images.{camera.name}"
            sample = list(range(0, len(frames), 7))
            decoded = reader.video_frames(episode_index, key, sample)
            for k, image in zip(sample, decoded, strict=True):
                source = image_of(streams[camera.name][frames[k][camera.name]][1])
                assert decode_index(image) == decode_index(source), f"{key} frame {k}"
                assert np.abs(image.astype(int) - source).mean() < 6, "within codec tolerance"
        quality = reports[episode_index]["streams"]
        assert quality["observation.state"]["zero_stamps"] > 0
        cameras = [f"observation.images.{c.name}" for c in spec.cameras]
        assert sum(quality[key]["filled_frames"] for key in cameras) == filled > 0  # the missing camera frames
        assert reports[episode_index]["cut_after"] is None


def test_action_from_next_state(tmp_path, spec):
    bag = write_bag(tmp_path / "bag", SyntheticArm(), [(0, 1.5, "pick")])
    convert([bag], replace(spec, action_topic=None), tmp_path / "ds")
    data = DatasetReader(tmp_path / "ds").episode_data(0)
    np.testing.assert_array_equal(data["action"][:-1], data["observation.state"][1:])


def test_stats_match_the_data(tmp_path, spec):
    bag = write_bag(tmp_path / "bag", SyntheticArm(), [(0, 1.5, "a"), (2, 3.5, "b")])
    convert([bag], spec, tmp_path / "ds")
    reader = DatasetReader(tmp_path / "ds")
    states = np.concatenate([reader.episode_data(i)["observation.state"] for i in range(2)])
    stats = reader.stats["observation.state"]
    np.testing.assert_allclose(stats["mean"], states.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats["std"], states.std(axis=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(stats["min"], states.min(axis=0))
    assert stats["count"][0] == len(states)
    assert np.all(stats["q01"] <= stats["q50"]) and np.all(stats["q50"] <= stats["q99"])
    front = reader.stats["observation.images.front"]
    assert front["mean"].shape == (3, 1, 1) and 0 <= front["min"].min() <= front["max"].max() <= 1


def test_a_camera_blackout_cuts_the_episode_and_every_frame_keeps_real_time(tmp_path, spec):
    """Single drops, jitter, a lagging state and a 150 ms camera blackout: the blackout cuts the
    episode in two (reported), every other tick is a frame, and each frame's timestamp is its
    real time from the episode's first frame, within half a period."""
    arm = SyntheticArm(drop_every=9, jitter_s=0.003, state_lag_s=0.03, camera_blackout=(1.0, 1.15))
    bag = write_bag(tmp_path / "bag", arm, [(0, 2.0, "pick the cube")])
    reports = convert([bag], spec, tmp_path / "ds", codec="libx264")
    assert validate(tmp_path / "ds") == []
    first, second = reports
    assert first["cut_after"]["stale"] == ["observation.images.front", "observation.images.wrist"]
    assert 0.95 < first["cut_after"]["at_s"] - arm.start_s < 1.1 and first["cut_after"]["frames"] >= 3
    assert second["cut_after"] is None
    events = stamped(bag, spec.events_topic)
    runs, _, _ = expected_frames(bag, spec, events[0][0], events[1][0])
    assert [len(run) for run in runs] == [r["frames"] for r in reports]
    reader = DatasetReader(tmp_path / "ds")
    for index, report in enumerate(reports):
        data = reader.episode_data(index)
        real = report["first_frame_s"] + np.arange(report["frames"]) / spec.fps  # the grid: real time
        assert np.max(np.abs(data["timestamp"] + report["first_frame_s"] - real)) < 0.5 / spec.fps
        assert report["last_frame_s"] - report["first_frame_s"] == pytest.approx((report["frames"] - 1) / spec.fps)
    with pytest.raises(MappingError, match=r"\['observation.images.front', 'observation.images.wrist'\] had nothing"):
        convert([bag], spec, tmp_path / "strict", on_stale="fail")
    assert not (tmp_path / "strict").exists()


def test_the_validator_finds_holes_in_the_timeline(tmp_path, spec):
    bag = write_bag(tmp_path / "bag", SyntheticArm(), [(0, 1.0, "a")])
    convert([bag], spec, tmp_path / "ds", codec="libx264")
    report_path = next((tmp_path / "ds" / "meta" / "quality").glob("*.json"))
    reports = json.loads(report_path.read_text())
    reports[0]["last_frame_s"] += 0.25  # as a conversion that skipped 7 or 8 ticks would have it
    report_path.write_text(json.dumps(reports))
    (problem,) = validate(tmp_path / "ds")
    assert "the timeline has holes" in problem and "episode 0" in problem
