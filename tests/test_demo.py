"""The README's main job runs and passes."""

import os
import re
import signal
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


def processes_logging_to(folder: str) -> list[int]:
    """The pids whose ROS_LOG_DIR is `folder`: what the main job started there."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"ROS_LOG_DIR={folder}".encode() in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:  # gone meanwhile, or not ours
            continue
    return found


@pytest.mark.slow
@pytest.mark.ros
@pytest.mark.timeout(180)
def test_a_sigterm_stops_the_main_job_and_every_process_it_started():
    job = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "demo.py")], stdout=subprocess.PIPE, text=True)
    logs = re.search(r"logs in (\S+)\)", job.stdout.readline()).group(1)
    try:
        while "1. simulated SO-101 follower" not in (line := job.stdout.readline()) and line:
            pass
        assert len(processes_logging_to(logs)) >= 5, "the buses, the driver, the leader, the cameras, the recorder"
        job.terminate()
        assert job.wait(60) == 128 + signal.SIGTERM
        assert processes_logging_to(logs) == []
    finally:
        job.kill()
        for pid in processes_logging_to(logs):  # left behind by a failure: not the next tests' business
            os.kill(pid, signal.SIGKILL)
