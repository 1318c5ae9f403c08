"""Conversion options, bad input, appending and atomicity."""

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import get_types_from_msg

from lerobot_recorder import camera_feed
from lerobot_recorder.bag import suite_typestore
from lerobot_recorder.convert import convert
from lerobot_recorder.errors import DatasetError, MappingError
from lerobot_recorder.extractors import EXTRACTORS
from lerobot_recorder.reader import DatasetReader
from lerobot_recorder.spec import ExtraFeature
from lerobot_recorder.synthetic import SyntheticArm, write_bag
from lerobot_recorder.validate import validate


def fingerprint(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_discarded_episodes_are_skipped(tmp_path, spec):
    bag = write_bag(tmp_path / "bag", SyntheticArm(), [(0, 1, "a"), (1.5, 2.5, "oops", False), (3, 4, "b")])
    reports = convert([bag], spec, tmp_path / "ds")
    assert [r["task"] for r in reports] == ["a", "b"]


def test_gap_segmentation_and_task_override(tmp_path, spec):
    bag = write_bag(tmp_path / "bag", SyntheticArm(), [(0, 1, "x"), (3, 4, "y")], events=False)
    reports = convert([bag], spec, tmp_path / "ds", segmentation="gap", gap_s=0.5, task="stack")
    assert len(reports) == 2 and {r["task"] for r in reports} == {"stack"}


def test_one_bag_per_episode(tmp_path, spec):
    bags = [write_bag(tmp_path / f"bag{i}", SyntheticArm(), [(0, 1, f"t{i}")], events=False) for i in range(3)]
    reports = convert(bags, spec, tmp_path / "ds")
    assert [r["episode_index"] for r in reports] == [0, 1, 2]
    assert DatasetReader(tmp_path / "ds").tasks == ["t0", "t1", "t2"]


def test_missing_task_says_how_to_give_one(tmp_path, spec):
    bag = write_bag(tmp_path / "bag", SyntheticArm(), [(0, 1, "x")], events=False)
    with pytest.raises(MappingError, match="pass the task with --task"):
        convert([bag], replace(spec, task_topic=None), tmp_path / "ds")


def test_joint_names_that_do_not_match_name_bag_topic_and_time(tmp_path, spec):
    bag = write_bag(tmp_path / "bag", SyntheticArm(joints=("a", "b", "c", "d", "e", "f")), [(0, 1, "x")])
    with pytest.raises(
        MappingError,
        match=r"bag .*bag, topic /follower/joint_(states|commands), t=1700000000\.\d+ s: JointState has joints",
    ):
        convert([bag], spec, tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


def test_unknown_image_encoding_is_named(tmp_path, spec, monkeypatch):
    from lerobot_recorder import synthetic

    original = synthetic.camera_message

    def yuv(types, header, image, compressed, image_format="png"):
        msg, msgtype = original(types, header, image, compressed, image_format)
        if not compressed:
            msg.encoding = "yuv422"
        return msg, msgtype

    monkeypatch.setattr(synthetic, "camera_message", yuv)
    bag = write_bag(tmp_path / "bag", SyntheticArm(), [(0, 1, "x")])
    with pytest.raises(MappingError, match=r"camera /wrist/image_raw, t=.* encoding 'yuv422' is not supported"):
        convert([bag], spec, tmp_path / "ds")


def test_custom_message_type_through_a_registered_extractor(tmp_path, spec, monkeypatch):
    definition = "std_msgs/Header header\nfloat64 opening\nfloat64 force\n"
    typestore = suite_typestore()
    typestore.register(get_types_from_msg(definition, "my_msgs/msg/Gripper"))
    bag = write_bag(tmp_path / "bag", SyntheticArm(), [(0, 1.5, "x")])
    # add the custom topic to a copy of the bag, definition embedded
    extra = tmp_path / "custom"
    writer = Writer(extra, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    connection = writer.add_connection("/gripper", "my_msgs/msg/Gripper", typestore=typestore)
    types = typestore.types
    for k in range(200):
        t = 1_700_000_000 * 10**9 + k * 10_000_000
        header = types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](sec=t // 10**9, nanosec=t % 10**9), frame_id=""
        )
        msg = types["my_msgs/msg/Gripper"](header=header, opening=k / 200, force=1.0)
        writer.write(connection, t, typestore.serialize_cdr(msg, "my_msgs/msg/Gripper"))
    writer.close()
    monkeypatch.setitem(EXTRACTORS, "my_msgs/msg/Gripper", lambda msg, names: np.array([msg.opening, msg.force]))
    custom = replace(spec, extra=(ExtraFeature("observation.gripper", "/gripper", ("opening", "force")),))
    custom.align["observation.gripper"] = spec.align["state"]
    merged = tmp_path / "merged"
    _merge_bags([bag, extra], merged)
    convert([merged], custom, tmp_path / "ds")
    reader = DatasetReader(tmp_path / "ds")
    assert reader.features["observation.gripper"]["names"] == ["opening", "force"]
    gripper = reader.episode_data(0)["observation.gripper"]
    assert np.all(np.diff(gripper[:, 0]) >= 0) and np.all(gripper[:, 1] == 1.0)


def _merge_bags(sources: list[Path], target: Path) -> None:
    """One mcap bag holding every connection and message of `sources`, definitions kept."""
    from rosbags.rosbag2 import Reader

    writer = Writer(target, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    items = []
    for source in sources:
        with Reader(source) as reader:
            mapping = {
                c.id: writer.add_connection(c.topic, c.msgtype, msgdef=c.msgdef.data, rihs01=c.digest)
                for c in reader.connections
            }
            items += [(t, mapping[c.id], raw) for c, t, raw in reader.messages()]
    for t, connection, raw in sorted(items, key=lambda item: item[0]):
        writer.write(connection, t, raw)
    writer.close()


def test_append_and_failed_append_leave_the_dataset_whole(tmp_path, spec, monkeypatch):
    first = write_bag(tmp_path / "first", SyntheticArm(), [(0, 1, "a")])
    second = write_bag(tmp_path / "second", SyntheticArm(), [(0, 1, "b"), (1.5, 2.5, "c")])
    convert([first], spec, tmp_path / "ds")
    before = fingerprint(tmp_path / "ds")

    original = camera_feed.decode_image
    decoded = []

    def camera_dies(*args):
        decoded.append(1)
        if len(decoded) == 12:
            raise OSError("camera stream read error")
        return original(*args)

    monkeypatch.setattr(camera_feed, "decode_image", camera_dies)
    with pytest.raises(OSError, match="camera stream read error"):
        convert([second], spec, tmp_path / "ds")
    assert fingerprint(tmp_path / "ds") == before, "a failed append changed the dataset"
    assert not list(tmp_path.glob(".ds.*")), "staging left behind"

    monkeypatch.setattr(camera_feed, "decode_image", original)
    convert([second], spec, tmp_path / "ds")
    reader = DatasetReader(tmp_path / "ds")
    assert reader.num_episodes == 3 and reader.tasks == ["a", "b", "c"]
    assert validate(tmp_path / "ds") == []
    assert all(
        before[name] == fingerprint(tmp_path / "ds")[name] for name in before if name.startswith(("data/", "videos/"))
    )


def test_append_with_other_features_is_refused(tmp_path, spec):
    bag = write_bag(tmp_path / "bag", SyntheticArm(), [(0, 1, "a")])
    convert([bag], spec, tmp_path / "ds")
    with pytest.raises(DatasetError, match="at 30 fps, this conversion at 15"):
        convert([bag], replace(spec, fps=15), tmp_path / "ds")
    one_camera = replace(spec, cameras=spec.cameras[:1])
    with pytest.raises(DatasetError, match="has other features"):
        convert([bag], one_camera, tmp_path / "ds")
    assert validate(tmp_path / "ds") == []


def test_output_folder_that_is_not_a_dataset_is_refused(tmp_path, spec):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "notes.txt").write_text("mine")
    bag = write_bag(tmp_path / "bag", SyntheticArm(), [(0, 1, "a")])
    with pytest.raises(DatasetError, match="is not a LeRobot dataset: choose another output folder"):
        convert([bag], spec, tmp_path / "ds")
    assert (tmp_path / "ds" / "notes.txt").read_text() == "mine"


def test_files_rotate_by_size(tmp_path, spec, monkeypatch):
    from lerobot_recorder import writer as writer_module

    real = writer_module.DatasetWriter.__init__

    def small(self, *args, **kwargs):
        real(self, *args, **kwargs, data_files_size_mb=0.000001, video_files_size_mb=0.000001)

    monkeypatch.setattr(writer_module.DatasetWriter, "__init__", small)
    bag = write_bag(tmp_path / "bag", SyntheticArm(), [(0, 1, "a"), (1.5, 2.5, "b"), (3, 4, "c")])
    convert([bag], spec, tmp_path / "ds")
    assert len(list((tmp_path / "ds" / "data").rglob("*.parquet"))) == 3
    assert len(list((tmp_path / "ds" / "videos" / "observation.images.front").rglob("*.mp4"))) == 3
    assert validate(tmp_path / "ds") == []


def test_mapped_topic_without_messages_is_named(tmp_path, spec):
    arm = SyntheticArm(command_hz=0.000001)  # the command topic exists, with (almost) nothing on it
    bag = write_bag(tmp_path / "bag", arm, [(0, 1, "a")])
    with pytest.raises(MappingError, match=r"aligns to fewer than 2 frames|has no messages on"):
        convert([bag], spec, tmp_path / "ds")


BUSLESS_PROFILE = """robot_type: seven_dof_arm
fps: 30
joints: [{name: j1, limits: [-3, 3]}, {name: j2}, {name: j3}, {name: j4}, {name: j5}, {name: j6}, {name: j7}]
topics: {joint_states: /follower/joint_states, joint_commands: /follower/joint_commands}
cameras:
  - {name: front, topic: /front/image_raw/compressed}
  - {name: wrist, topic: /wrist/image_raw}
dataset: {task_topic: /task, episode_events_topic: /episode_events}
"""


def test_a_robot_the_suite_does_not_drive_converts_from_a_busless_profile(tmp_path):
    from lerobot_drivers.profile import load_profile
    from lerobot_recorder.spec import DatasetSpec

    (tmp_path / "arm.yaml").write_text(BUSLESS_PROFILE)
    spec = DatasetSpec.from_profile(load_profile(tmp_path / "arm.yaml"))
    arm = SyntheticArm(joints=tuple(f"j{i}" for i in range(1, 8)))
    bag = write_bag(tmp_path / "bag", arm, [(0, 1, "wave")])
    convert([bag], spec, tmp_path / "ds")
    reader = DatasetReader(tmp_path / "ds")
    assert reader.info["robot_type"] == "seven_dof_arm"
    assert reader.info["features"]["observation.state"]["names"] == [f"j{i}" for i in range(1, 8)]
    assert validate(tmp_path / "ds") == []


def test_a_typo_in_the_alignment_section_is_named(tmp_path, profile):
    from lerobot_recorder.spec import DatasetSpec

    dataset = {**profile.dataset, "align": {"image": {"policy": "nearest"}}}
    with pytest.raises(MappingError, match=r"align.image names no stream; align: \['action', 'images', 'state'\]"):
        DatasetSpec.from_profile(replace(profile, dataset=dataset))
    dataset = {**profile.dataset, "align": {"images": {"policy": "nearest", "tolerence_s": 0.1}}}
    with pytest.raises(
        MappingError, match=r"align.images takes \['fill_periods', 'max_age_s', 'policy', 'tolerance_s'\]"
    ):
        DatasetSpec.from_profile(replace(profile, dataset=dataset))


@pytest.mark.parametrize("segmentation", ["bag", "gap"])
def test_episodes_span_the_stamps_they_are_aligned_by(tmp_path, spec, segmentation):
    """State header stamps 30 ms older than their receive time: the episode still starts with
    the first state message, not with the first one whose stamp is after its receive time."""
    arm = SyntheticArm(state_lag_s=0.03)
    bag = write_bag(tmp_path / "bag", arm, [(0, 2, "a")], events=False)
    (report,) = convert([bag], spec, tmp_path / "ds", segmentation=segmentation)
    from rosbags.highlevel import AnyReader

    with AnyReader([bag]) as reader:
        stamps = [
            reader.deserialize(raw, c.msgtype).header.stamp
            for c, _, raw in reader.messages([c for c in reader.connections if c.topic == spec.state_topic])
        ]
    first = min(s.sec * 10**9 + s.nanosec for s in stamps)
    assert round(report["start_s"] * 1e9) == first


def test_without_events_pauses_and_task_changes_make_the_episodes(tmp_path, spec):
    """Two tasks, one after the other, then a 3 s pause and a third: three episodes by default,
    each under its own task, and the rule named; one episode only when asked for."""
    bag = write_bag(
        tmp_path / "bag", SyntheticArm(), [(0, 1, "pick"), (1.02, 2, "place"), (5, 6, "push")], events=False
    )
    reports = convert([bag], spec, tmp_path / "ds")
    assert [r["task"] for r in reports] == ["pick", "place", "push"]
    assert {r["episodes_from"] for r in reports} == {"pauses longer than 1 s and task changes"}
    merged = convert([bag], spec, tmp_path / "one", segmentation="bag")  # on request: pick and place together
    assert [r["task"] for r in merged] == ["place", "push"], "each part: the newest task by its end"
    assert {r["episodes_from"] for r in merged} == {"the whole bag as one episode"}
    assert merged[0]["cut_after"]["frames"] > 80, "the 3 s pause still cuts: no frame may skip time"
    assert merged[0]["cut_after"]["stale"] == ["observation.state", "action", "observation.images.front",
                                               "observation.images.wrist"]  # fmt: skip


def test_workers_write_the_dataset_one_process_writes(tmp_path, spec):
    """Four bags, two at a time into shards, merged: the same episodes, columns, tasks and
    frames (by the index each synthetic frame carries) as one process; valid for LeRobot."""
    from lerobot_drivers.cameras import decode_index

    bags = [
        write_bag(tmp_path / f"bag{i}", SyntheticArm(), [(0, 1, f"t{i % 3}")], events=False, seed=i)
        for i in range(4)
    ]  # fmt: skip
    one = convert(bags, spec, tmp_path / "one", codec="libx264")
    two = convert(bags, spec, tmp_path / "two", codec="libx264", workers=2)
    assert validate(tmp_path / "two") == []
    assert [r["episode_index"] for r in two] == [0, 1, 2, 3] and [r["task"] for r in two] == [r["task"] for r in one]
    a, b = DatasetReader(tmp_path / "one"), DatasetReader(tmp_path / "two")
    assert a.tasks == b.tasks and a.num_frames == b.num_frames
    for i in range(4):
        x, y = a.episode_data(i), b.episode_data(i)
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(x[key], y[key], err_msg=key)
        for key in a.video_keys:
            frames = list(range(0, len(x["index"]), 5))
            assert [decode_index(f) for f in a.video_frames(i, key, frames)] == [
                decode_index(f) for f in b.video_frames(i, key, frames)
            ]
    assert a.stats.keys() == b.stats.keys()
    for feature in ("observation.state", "action", "index", "episode_index"):
        for stat in ("mean", "min", "max"):
            np.testing.assert_allclose(a.stats[feature][stat], b.stats[feature][stat], rtol=1e-6, err_msg=feature)
    assert not list(tmp_path.glob(".two.shards-*")), "the shards are gone"
