"""Camera intrinsics from camera_calibration's YAML, checked against the capture size."""

from pathlib import Path

import pytest

from lerobot_drivers.camera_info import load_intrinsics
from lerobot_drivers.cameras import CameraError

CALIBRATION = (Path(__file__).parent / "data" / "front_calibration.yaml").read_text()


def test_a_calibration_file_gives_the_matrices(tmp_path):
    path = tmp_path / "front.yaml"
    path.write_text(CALIBRATION)
    intrinsics = load_intrinsics(f"file://{path}", 640, 480)
    assert intrinsics.calibrated and intrinsics.k[0] == 615.2 and intrinsics.k[5] == 238.9
    assert intrinsics.d == (0.11, -0.23, 0.001, -0.002, 0.0) and intrinsics.distortion_model == "plumb_bob"
    assert len(intrinsics.p) == 12 and intrinsics.r[4] == 1.0


def test_no_file_is_an_uncalibrated_camera():
    intrinsics = load_intrinsics("", 320, 240)
    assert (intrinsics.width, intrinsics.height, intrinsics.calibrated) == (320, 240, False)
    assert set(intrinsics.k) == {0.0}


def test_bad_calibrations_name_the_problem(tmp_path):
    path = tmp_path / "front.yaml"
    path.write_text(CALIBRATION)
    with pytest.raises(CameraError, match="calibrates 640x480 images but the camera captures 320x240"):
        load_intrinsics(str(path), 320, 240)
    path.write_text(CALIBRATION.replace("data: [615.2, 0.0, 321.4, 0.0, 614.8, 238.9, 0.0, 0.0, 1.0]", "data: [1]"))
    with pytest.raises(CameraError, match=r"camera_matrix.data must hold 9 numbers, got \[1\]"):
        load_intrinsics(str(path), 640, 480)
    with pytest.raises(CameraError, match="cannot read camera calibration"):
        load_intrinsics(str(tmp_path / "missing.yaml"), 640, 480)
