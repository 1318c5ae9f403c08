"""The validator names what is wrong with a broken dataset."""

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lerobot_recorder.convert import convert
from lerobot_recorder.synthetic import SyntheticArm, write_bag
from lerobot_recorder.validate import main, validate


@pytest.fixture
def dataset(tmp_path, spec):
    bag = write_bag(tmp_path / "bag", SyntheticArm(), [(0, 1, "a"), (1.5, 2.5, "b")])
    convert([bag], spec, tmp_path / "ds")
    return tmp_path / "ds"


def test_a_converted_dataset_is_valid(dataset, capsys):
    assert main([str(dataset)]) == 0
    assert "valid LeRobotDataset v3.0" in capsys.readouterr().out


def test_wrong_totals_are_named(dataset):
    info = json.loads((dataset / "meta/info.json").read_text())
    info["total_frames"] += 3
    (dataset / "meta/info.json").write_text(json.dumps(info))
    assert any("the episodes add up to" in p for p in validate(dataset))


def test_missing_video_is_named(dataset):
    shutil.rmtree(dataset / "videos" / "observation.images.wrist")
    assert any(
        "observation.images.wrist: video videos/observation.images.wrist" in p and "missing" in p
        for p in validate(dataset)
    )


def test_a_column_of_the_wrong_type_is_named(dataset):
    path = next((dataset / "data").rglob("*.parquet"))
    table = pq.read_table(path)
    table = table.set_column(
        table.schema.get_field_index("timestamp"), "timestamp", table.column("timestamp").cast(pa.float64())
    )
    pq.write_table(table, path)
    assert any("column timestamp is double, should be float" in p for p in validate(dataset))


def test_not_a_dataset(tmp_path, capsys):
    assert main([str(tmp_path)]) == 1
    assert "meta/info.json is missing" in capsys.readouterr().out
