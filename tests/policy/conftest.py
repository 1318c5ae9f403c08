"""A small LeRobotDataset v3, converted from a synthetic bag once per test session."""

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lerobot_drivers.profile import load_profile
from lerobot_recorder.convert import convert
from lerobot_recorder.spec import DatasetSpec
from lerobot_recorder.synthetic import SyntheticArm, write_bag

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """Two episodes (60 and 45 frames at 30 fps), two cameras, tasks 'pick' and 'place'."""
    folder = tmp_path_factory.mktemp("policy_data")
    bag = write_bag(folder / "bag", SyntheticArm(), [(0, 2, "pick the cube"), (3, 4.5, "place the cube")])
    spec = DatasetSpec.from_profile(load_profile(ROOT / "config" / "so101_follower_sim.yaml"))
    convert([bag], spec, folder / "dataset", codec="libx264")
    return folder / "dataset"


@pytest.fixture(scope="session")
def dataset_with_subtasks(dataset, tmp_path_factory) -> Path:
    """The same frames with a per-frame string column `subtask`, for the text loss."""
    folder = tmp_path_factory.mktemp("policy_data_text") / "dataset"
    shutil.copytree(dataset, folder)
    for path in (folder / "data").glob("*/*.parquet"):
        table = pq.read_table(path)
        frames = table.column("frame_index").to_pylist()
        labels = ["reach" if f < 20 else "grasp" if f < 40 else "lift" for f in frames]
        pq.write_table(table.append_column("subtask", pa.array(labels, pa.string())), path)
    info = json.loads((folder / "meta" / "info.json").read_text())
    info["features"]["subtask"] = {"dtype": "string", "shape": [1], "names": None}
    (folder / "meta" / "info.json").write_text(json.dumps(info, indent=2))
    return folder


@pytest.fixture(scope="session")
def trained_policy(dataset, tmp_path_factory) -> Path:
    """A tiny policy trained for two steps on `dataset`: a real policy folder, weights barely trained."""
    from lerobot_policy.train import TrainConfig, train

    run = tmp_path_factory.mktemp("policy_run") / "run"
    last = train(TrainConfig(dataset=str(dataset), output=str(run), steps=2, batch_size=2, progress=False))
    return last / "pretrained_model"
