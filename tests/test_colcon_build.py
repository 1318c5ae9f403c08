"""The native path: `colcon build` and `colcon test` of every package, as on a ROS 2 install."""

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICK_SELECTION = "profile or scenarios or configuration or spec_namespace"  # some tests of each package
PACKAGES = ("lerobot_msgs", "lerobot_drivers", "lerobot_recorder", "lerobot_policy", "lerobot_bringup")


@pytest.mark.slow
def test_colcon_builds_every_package(tmp_path):
    colcon = Path(sys.executable).parent / "colcon"
    if not colcon.exists():
        pytest.skip("colcon is not installed in this environment")
    venv = Path(sys.prefix)
    env = {**os.environ, "AMENT_PREFIX_PATH": str(venv), "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    result = subprocess.run(
        [str(colcon), "build", "--merge-install", "--base-paths", str(ROOT / "src"),
         "--build-base", str(tmp_path / "build"), "--install-base", str(tmp_path / "install"),
         "--cmake-args", f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    install = tmp_path / "install"
    index = install / "share" / "ament_index" / "resource_index" / "packages"
    for package in PACKAGES:
        assert (index / package).exists(), f"{package} is not registered in the ament index"
        assert (install / "share" / package / "package.xml").exists()
    for executable in ("lerobot_arm_driver", "lerobot_sim_bus"):  # where `ros2 run` looks
        assert (install / "lib" / "lerobot_drivers" / executable).exists(), executable
    share = install / "share" / "lerobot_bringup"  # where `ros2 launch lerobot_bringup <file>` looks
    assert {p.name for p in (share / "launch").iterdir()} == {p.name for p in (ROOT / "launch").glob("*.launch.py")}
    assert (share / "config" / "so101_follower_sim.yaml").is_file()
    assert (share / "config" / "arm.rviz").is_file()
    assert (share / "config" / "calibration" / "so101_sim.json").is_file()
    assert (install / "lib" / "lerobot_bringup" / "lerobot_bringup").exists()
    # `colcon test` runs each Python package's own tests (a quick selection of them here)
    result = subprocess.run(
        [str(colcon), "test", "--merge-install", "--base-paths", str(ROOT / "src"), "--packages-skip", "lerobot_msgs",
         "--build-base", str(tmp_path / "build"), "--install-base", str(install),
         "--pytest-args", "-m", "not slow and not ros", "-k", QUICK_SELECTION],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for package in PACKAGES[1:]:
        report = ET.parse(tmp_path / "build" / package / "pytest.xml").getroot().find("testsuite")
        assert report is not None, package
        ran = int(report.get("tests", 0)) - int(report.get("skipped", 0))
        assert ran > 0 and report.get("failures") == report.get("errors") == "0", (package, report.attrib)
    shutil.rmtree(tmp_path / "build")
