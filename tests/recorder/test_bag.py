"""Bag reading, on bags written by rosbag2 itself and on broken ones."""

import shutil

import pytest

from lerobot_recorder.bag import Bag
from lerobot_recorder.convert import convert
from lerobot_recorder.errors import BagError, MappingError
from lerobot_recorder.synthetic import SyntheticArm, write_bag

from .conftest import SAMPLES

pytestmark = pytest.mark.skipif(not SAMPLES.exists(), reason="shared rosbag2 samples are not beside the checkout")


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_split_bag_is_read_whole(storage):
    with Bag([SAMPLES / storage / "wbag"]) as bag:
        assert len(bag.paths) == 1
        assert sum(1 for _ in bag.messages(list(bag.topics()))) == 6074


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_custom_types_come_from_the_bag(storage):
    with Bag([SAMPLES / storage / "cdr_test"]) as bag:
        messages = list(bag.messages(list(bag.topics())))
    assert {m.msgtype for m in messages} == {"test_msgs/msg/BasicTypes", "test_msgs/msg/Arrays"}
    assert len(messages) == 7


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_unparseable_service_events_do_not_stop_other_topics(storage):
    with Bag([SAMPLES / storage / "bag_with_topics_and_service_events"]) as bag:
        readable = [t for t in bag.topics() if t not in bag.unreadable]
        assert len(list(bag.messages(readable))) == 2
        unreadable = next(iter(bag.unreadable))
        with pytest.raises(BagError, match=f"topic {unreadable} cannot be read"):
            list(bag.messages([unreadable]))


def test_empty_bag_opens():
    with Bag([SAMPLES / "mcap" / "talker"]) as bag:
        assert list(bag.messages(list(bag.topics()))) == []


def test_sample_bag_without_robot_topics_names_what_is_missing(spec, tmp_path):
    with pytest.raises(MappingError, match=r"talker lacks topic\(s\) .*/follower/joint_states.* it has .*/rosout"):
        convert([SAMPLES / "mcap" / "talker"], spec, tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


def test_missing_bag_is_named(tmp_path):
    with pytest.raises(BagError, match="nope does not exist"):
        Bag([tmp_path / "nope"]).open()


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_truncated_bag_is_a_clear_error(storage, tmp_path, spec):
    bag = write_bag(tmp_path / "bag", SyntheticArm(), [(0, 2, "pick")], storage=storage)
    data = next(p for p in bag.iterdir() if p.suffix in (".mcap", ".db3"))
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    with pytest.raises((BagError, MappingError), match=str(bag.name)):
        convert([bag], spec, tmp_path / "ds")
    assert not (tmp_path / "ds").exists()
    assert not list(tmp_path.glob(".ds.staging-*"))


def test_corrupt_file_is_a_clear_error(tmp_path):
    shutil.copytree(SAMPLES / "sqlite3" / "talker", tmp_path / "talker")
    db = next((tmp_path / "talker").glob("*.db3"))
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BagError, match="talker"), Bag([tmp_path / "talker"]) as bag:
        list(bag.messages(list(bag.topics())))
