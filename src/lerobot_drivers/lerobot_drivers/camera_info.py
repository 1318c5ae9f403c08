"""A camera's intrinsics as sensor_msgs/CameraInfo carries them. No rclpy.

Read from the YAML that ROS's camera_calibration writes (camera_calibration_parsers' format:
image_width, image_height, camera_name, camera_matrix, distortion_model,
distortion_coefficients, rectification_matrix, projection_matrix, each matrix as rows, cols,
data), with yaml.safe_load. Without a file the camera is uncalibrated and, as
camera_info_manager does, every matrix is zero: consumers read K[0] == 0 as "no calibration".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from lerobot_drivers.cameras import CameraError

SIZES = {"camera_matrix": 9, "rectification_matrix": 9, "projection_matrix": 12}


@dataclass(frozen=True)
class Intrinsics:
    width: int
    height: int
    k: tuple[float, ...] = (0.0,) * 9
    d: tuple[float, ...] = ()
    r: tuple[float, ...] = (0.0,) * 9
    p: tuple[float, ...] = (0.0,) * 12
    distortion_model: str = ""

    @property
    def calibrated(self) -> bool:
        return self.k[0] != 0.0


def load_intrinsics(source: str, width: int, height: int) -> Intrinsics:
    """The calibration at `source` (a path or file:// URL; empty: uncalibrated) for a camera
    capturing width x height."""
    if not source:
        return Intrinsics(width, height)
    path = Path(source.removeprefix("file://")).expanduser()
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CameraError(f"cannot read camera calibration {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise CameraError(f"{path}: a camera calibration is a mapping (camera_calibration's YAML)")
    if (raw.get("image_width"), raw.get("image_height")) != (width, height):
        raise CameraError(
            f"{path} calibrates {raw.get('image_width')}x{raw.get('image_height')} images but the camera captures "
            f"{width}x{height}: calibrate at this size or set width and height to the calibration's"
        )
    matrices = {}
    for key, size in SIZES.items():
        data = (raw.get(key) or {}).get("data")
        if not isinstance(data, list) or len(data) != size:
            raise CameraError(f"{path}: {key}.data must hold {size} numbers, got {data!r}")
        matrices[key] = tuple(float(v) for v in data)
    distortion = (raw.get("distortion_coefficients") or {}).get("data") or []
    return Intrinsics(
        width, height, matrices["camera_matrix"], tuple(float(v) for v in distortion),
        matrices["rectification_matrix"], matrices["projection_matrix"], str(raw.get("distortion_model", "")),
    )  # fmt: skip
