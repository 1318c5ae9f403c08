"""LeRobot calibration files and conversions."""

import json
import math

import pytest

from lerobot_drivers.calibration import (
    MotorCalibration,
    NormMode,
    from_radians,
    load_calibration,
    normalize,
    radian_limits,
    save_calibration,
    to_radians,
    unnormalize,
)
from lerobot_drivers.errors import CalibrationError

# As LeRobot writes it for an SO-101 follower (values from a real arm's file).
LEROBOT_FILE = {
    "shoulder_pan": {"id": 1, "drive_mode": 0, "homing_offset": -1470, "range_min": 758, "range_max": 3292},
    "gripper": {"id": 6, "drive_mode": 0, "homing_offset": 1407, "range_min": 2023, "range_max": 3250},
}


def test_lerobot_file_round_trip(tmp_path):
    source = tmp_path / "so101_follower" / "arm.json"
    source.parent.mkdir()
    source.write_text(json.dumps(LEROBOT_FILE, indent=4))
    calibration = load_calibration(source)
    assert calibration["shoulder_pan"] == MotorCalibration(1, 0, -1470, 758, 3292)
    copy = tmp_path / "copy.json"
    save_calibration(calibration, copy)
    assert json.loads(copy.read_text()) == LEROBOT_FILE
    assert not list(tmp_path.glob("*.tmp"))


def test_lerobot_normalizations():
    cal = MotorCalibration(1, 0, 0, 1024, 3072)
    assert normalize(2301, cal, NormMode.RANGE_M100_100) == pytest.approx(24.70703125)  # LeRobot's example
    assert normalize(0, cal, NormMode.RANGE_M100_100) == -100  # clamped to the range
    assert normalize(3072, cal, NormMode.RANGE_0_100) == 100
    assert normalize(2048, cal, NormMode.DEGREES) == 0
    assert normalize(3072, cal, NormMode.DEGREES) == pytest.approx(1024 * 360 / 4095)
    flipped = MotorCalibration(1, 1, 0, 1024, 3072)
    assert normalize(2301, flipped, NormMode.RANGE_M100_100) == pytest.approx(-24.70703125)
    assert normalize(1024, flipped, NormMode.RANGE_0_100) == 100


@pytest.mark.parametrize("mode", list(NormMode))
@pytest.mark.parametrize("drive_mode", [0, 1])
def test_unnormalize_inverts_normalize(mode, drive_mode):
    cal = MotorCalibration(1, drive_mode, 0, 758, 3292)
    for raw in (758, 1000, 2025, 3292):
        assert unnormalize(normalize(raw, cal, mode), cal, mode) == raw


def test_radians_are_centred_and_clamped():
    cal = MotorCalibration(1, 0, 0, 1024, 3072)
    assert to_radians(2048, cal) == 0
    assert to_radians(3072, cal) == pytest.approx(math.radians(1024 * 360 / 4095))
    assert from_radians(10.0, cal) == 3072  # far outside: clamped to the calibrated limit
    low, high = radian_limits(MotorCalibration(1, 1, 0, 1024, 3072))
    assert low < 0 < high


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read calibration file"),
        ("[]", "expected an object of motors"),
        ('{"a": {"id": 1}}', r"motor 'a' lacks \['drive_mode'"),
        (
            '{"a": {"id": 1, "drive_mode": 0, "homing_offset": 0, "range_min": 9, "range_max": 9}}',
            "range_min 9 >= range_max 9",
        ),
    ],
)
def test_bad_files_are_explained(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CalibrationError, match=message):
        load_calibration(path)


def test_missing_file_says_how_to_calibrate(tmp_path):
    with pytest.raises(CalibrationError, match="does not exist: calibrate the arm"):
        load_calibration(tmp_path / "none.json")
