"""The README's main job runs and passes."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.ros
@pytest.mark.timeout(600)  # the whole suite end to end: about 3 minutes alone, more in a loaded run
def test_main_job_passes():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "torque off on all servos: yes" in result.stdout
    assert "(LeRobotDataset v3.0): valid" in result.stdout
    assert result.stdout.count("recorded episode") == 2
    assert "trained a tiny pi0.5-style policy" in result.stdout
    assert "policy node on the follower" in result.stdout
    assert "closed loop in MuJoCo" in result.stdout and "reach success: trained policy" in result.stdout
