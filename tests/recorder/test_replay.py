"""Dataset -> bag -> dataset gives the same episode back (train/serve parity)."""

import numpy as np
import pytest
from sensor_msgs.msg import JointState

from lerobot_drivers.cameras import decode_index
from lerobot_recorder.convert import convert
from lerobot_recorder.errors import DatasetError, RecorderError
from lerobot_recorder.reader import DatasetReader
from lerobot_recorder.replay import write_episode_bag
from lerobot_recorder.synthetic import SyntheticArm, write_bag

from .conftest import ROOT

PROFILE = ROOT / "config" / "so101_follower_sim.yaml"


@pytest.fixture
def dataset(tmp_path, spec):
    bag = write_bag(tmp_path / "bag", SyntheticArm(), [(0, 1.5, "pick the cube")])
    convert([bag], spec, tmp_path / "ds")
    return DatasetReader(tmp_path / "ds")


def test_episode_survives_a_trip_through_a_bag(dataset, spec, tmp_path):
    bag = write_episode_bag(dataset, 0, spec, tmp_path / "replayed")
    convert([bag], spec, tmp_path / "again", segmentation="bag")
    again = DatasetReader(tmp_path / "again")
    first, second = dataset.episode_data(0), again.episode_data(0)
    assert again.tasks == dataset.tasks
    assert len(second["index"]) == len(first["index"])
    np.testing.assert_array_equal(second["observation.state"], first["observation.state"])
    np.testing.assert_array_equal(second["action"], first["action"])
    for key in dataset.video_keys:
        for k in (0, 10, len(first["index"]) - 1):
            a, b = dataset.video_frames(0, key, [k])[0], again.video_frames(0, key, [k])[0]
            assert decode_index(a) == decode_index(b)
            assert np.abs(a.astype(int) - b).mean() < 6


def test_replay_refuses_to_overwrite_and_bad_episodes(dataset, spec, tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(RecorderError, match="never overwrites"):
        write_episode_bag(dataset, 0, spec, tmp_path / "taken")
    with pytest.raises(DatasetError, match=r"has episodes 0\.\.0, not 3"):
        write_episode_bag(dataset, 3, spec, tmp_path / "new")


def test_publish_plays_the_episode_on_the_graph(dataset, spec, ros_testbed, ros_probe):
    states = ros_probe.collect(JointState, spec.state_topic)
    player = ros_testbed.start_python(
        "replay",
        "lerobot_recorder.replay",
        "--dataset",
        str(dataset.root),
        "--profile",
        str(PROFILE),
        "--publish",
        "--rate",
        "2",
        "--wait-s",
        "30",  # discovery takes seconds on a loaded machine
    )
    player.wait_for_output(r"published \d+ messages", timeout=30)
    try:
        received = states.wait_for(20)
    except TimeoutError:
        raise AssertionError(
            f"{len(states.snapshot())} joint states arrived; the player said: {player.output}"
        ) from None
    assert list(received[0].name) == dataset.features["observation.state"]["names"]
    positions = np.array([m.position for m in received], dtype=np.float32)
    source = dataset.episode_data(0)["observation.state"]
    assert all(any(np.array_equal(p, row) for row in source) for p in positions[:10])
