"""The native path: `colcon build` of all four packages, as on a ROS 2 install."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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
    shutil.rmtree(tmp_path / "build")
