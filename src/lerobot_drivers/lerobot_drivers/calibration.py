"""LeRobot-compatible calibration: the same JSON file, fields and meaning.

An arm calibrated with LeRobot (`~/.cache/huggingface/lerobot/calibration/robots/<type>/
<id>.json`) drives here unchanged, and files written here load in LeRobot. Conversions follow
LeRobot's MotorsBus._normalize/_unnormalize exactly, plus radians for sensor_msgs/JointState.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path

from lerobot_drivers.errors import CalibrationError

FIELDS = ("id", "drive_mode", "homing_offset", "range_min", "range_max")


class NormMode(str, Enum):
    RANGE_M100_100 = "range_m100_100"
    RANGE_0_100 = "range_0_100"
    DEGREES = "degrees"


@dataclass(frozen=True)
class MotorCalibration:
    id: int
    drive_mode: int
    homing_offset: int
    range_min: int
    range_max: int

    @property
    def middle(self) -> float:
        return (self.range_min + self.range_max) / 2


def default_calibration_dir() -> Path:
    """Where LeRobot keeps calibration files (honours HF_LEROBOT_CALIBRATION and HF_HOME)."""
    if env := os.environ.get("HF_LEROBOT_CALIBRATION"):
        return Path(env).expanduser()
    hf_home = Path(os.environ.get("HF_HOME", "~/.cache/huggingface")).expanduser()
    return hf_home / "lerobot" / "calibration"


def load_calibration(path: Path) -> dict[str, MotorCalibration]:
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CalibrationError(
            f"calibration file {path} does not exist: calibrate the arm (lerobot-calibrate, or this "
            "suite's calibrate command) or point the profile's `calibration` at the right file"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"cannot read calibration file {path}: {exc}") from None
    if not isinstance(raw, dict) or not raw:
        raise CalibrationError(f"{path}: expected an object of motors, got {type(raw).__name__}")
    calibration = {}
    for name, entry in raw.items():
        missing = [f for f in FIELDS if not isinstance(entry, dict) or f not in entry]
        if missing:
            raise CalibrationError(f"{path}: motor {name!r} lacks {missing}; LeRobot files have {list(FIELDS)}")
        try:
            values = {f: int(entry[f]) for f in FIELDS}
        except (TypeError, ValueError):
            raise CalibrationError(f"{path}: motor {name!r} has a non-integer field: {entry}") from None
        cal = MotorCalibration(**values)
        if cal.range_min >= cal.range_max:
            raise CalibrationError(
                f"{path}: motor {name!r} has range_min {cal.range_min} >= range_max {cal.range_max}: "
                "re-run the range recording and move the joint through its whole range"
            )
        calibration[name] = cal
    return calibration


def save_calibration(calibration: dict[str, MotorCalibration], path: Path) -> None:
    """Write atomically (no half-written file), in LeRobot's layout."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
        json.dump({name: asdict(cal) for name, cal in calibration.items()}, handle, indent=4)
    Path(handle.name).replace(path)


def normalize(raw: float, cal: MotorCalibration, mode: NormMode, max_res: int = 4095) -> float:
    """Raw steps -> LeRobot's normalized value (clamped to the calibrated range)."""
    bounded = min(cal.range_max, max(cal.range_min, raw))
    if mode is NormMode.RANGE_M100_100:
        norm = (bounded - cal.range_min) / (cal.range_max - cal.range_min) * 200 - 100
        return -norm if cal.drive_mode else norm
    if mode is NormMode.RANGE_0_100:
        norm = (bounded - cal.range_min) / (cal.range_max - cal.range_min) * 100
        return 100 - norm if cal.drive_mode else norm
    degrees = (bounded - cal.middle) * 360 / max_res
    return -degrees if cal.drive_mode else degrees


def unnormalize(value: float, cal: MotorCalibration, mode: NormMode, max_res: int = 4095) -> int:
    """LeRobot's normalized value -> raw steps, clamped to the calibrated range."""
    if mode is NormMode.RANGE_M100_100:
        value = -value if cal.drive_mode else value
        raw = (value + 100) / 200 * (cal.range_max - cal.range_min) + cal.range_min
    elif mode is NormMode.RANGE_0_100:
        value = 100 - value if cal.drive_mode else value
        raw = value / 100 * (cal.range_max - cal.range_min) + cal.range_min
    else:
        value = -value if cal.drive_mode else value
        raw = value * max_res / 360 + cal.middle
    return round(min(cal.range_max, max(cal.range_min, raw)))


def to_radians(raw: float, cal: MotorCalibration, max_res: int = 4095) -> float:
    """Raw steps -> joint angle in radians (REP-103), zero at the middle of the range."""
    return math.radians(normalize(raw, cal, NormMode.DEGREES, max_res))


def from_radians(angle: float, cal: MotorCalibration, max_res: int = 4095) -> int:
    return unnormalize(math.degrees(angle), cal, NormMode.DEGREES, max_res)


def radian_limits(cal: MotorCalibration, max_res: int = 4095) -> tuple[float, float]:
    """The calibrated range in radians, low to high (drive_mode may swap the ends)."""
    ends = sorted((to_radians(cal.range_min, cal, max_res), to_radians(cal.range_max, cal, max_res)))
    return ends[0], ends[1]
