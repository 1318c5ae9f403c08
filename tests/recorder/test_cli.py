"""The conversion command, in its own process."""

import json
import re
import signal
import subprocess
import sys
import time

import pytest

from lerobot_recorder.reader import DatasetReader
from lerobot_recorder.synthetic import SyntheticArm, write_bag

from .conftest import ROOT

PROFILE = ROOT / "config" / "so101_follower_sim.yaml"


def command(bag, out):
    return [sys.executable, "-m", "lerobot_recorder.cli", "--profile", str(PROFILE), "--out", str(out), str(bag)]


def test_command_converts_and_says_where(tmp_path):
    bag = write_bag(tmp_path / "bag", SyntheticArm(), [(0, 1, "a"), (1.5, 2.5, "b")])
    done = subprocess.run(command(bag, tmp_path / "ds"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"2 episode(s), {DatasetReader(tmp_path / 'ds').num_frames} frames written to" in done.stdout
    assert "\r" not in done.stdout + done.stderr and "\x1b[" not in done.stdout + done.stderr, "a log is not a terminal"
    assert "episode 0 converted: " in done.stdout and "(written once every bag is converted)" in done.stdout


def test_a_bag_whose_frames_do_not_fit_the_dataset_video_stops_with_the_cause(tmp_path):
    """The frames agree within the second bag, so only the video writer sees the size: its error
    used to leave the bag reader waiting on a full queue, forever."""
    bags = [write_bag(tmp_path / "fits", SyntheticArm(), [(0, 1, "a")]),
            write_bag(tmp_path / "small", SyntheticArm(width=80, height=60), [(0, 1, "b")])]  # fmt: skip
    args = [sys.executable, "-m", "lerobot_recorder.cli", "--profile", str(PROFILE), "--out", str(tmp_path / "ds")]
    done = subprocess.run([*args, *map(str, bags)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "frame of shape (60, 80, 3), the video is (120, 160, 3)" in done.stderr
    assert "nothing was written" in done.stderr and not (tmp_path / "ds").exists()


@pytest.mark.slow
def test_ctrl_c_stops_at_once_and_writes_nothing(tmp_path):
    arm = SyntheticArm(width=320, height=240)
    bag = write_bag(tmp_path / "bag", arm, [(0, 40, "long")], events=False)  # about 4 s to convert
    child = subprocess.Popen(command(bag, tmp_path / "ds"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".ds.staging-*/videos/*/*/*.mp4")):  # encoding has begun
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=30)
    assert child.returncode == 130 and "interrupted: nothing was written" in stderr
    at_signal, stopped, planned = map(
        int, re.search(r"had (\d+) frames .* stopped at (\d+), of about (\d+)", stderr).groups()
    )
    assert stopped < planned, "the rest of the episode was converted before stopping"
    assert stopped - at_signal <= 8, "frames in flight at the signal only: no frame encoded after it"
    assert "Traceback" not in stderr
    assert not (tmp_path / "ds").exists() and not list(tmp_path.glob(".ds.*"))


def test_the_quality_table_shows_rate_drops_jitter_and_latency(tmp_path):
    arm = SyntheticArm(drop_every=9, state_lag_s=0.03)
    bag = write_bag(tmp_path / "bag", arm, [(0, 1.5, "a")])
    profile = tmp_path / "receive.yaml"
    profile.write_text(PROFILE.read_text().replace("stamps: header", "stamps: receive").replace(
        "calibration: calibration/", f"calibration: {PROFILE.parent}/calibration/"))  # fmt: skip
    args = [sys.executable, "-m", "lerobot_recorder.cli", "--profile", str(profile), "--out", str(tmp_path / "ds")]
    done = subprocess.run([*args, str(bag)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    state = next(line for line in done.stdout.splitlines() if line.strip().startswith("observation.state "))
    assert re.search(
        r" 10\d\.\d Hz, 0 missing in 0 drop\(s\), jitter p50/p99 \d\.\d/\d\.\d ms, latency 3[01]\.\d", state
    )
    front = next(line for line in done.stdout.splitlines() if line.strip().startswith("observation.images.front "))
    assert re.search(r"[1-9]\d* missing in [1-9]\d* drop\(s\)", front), front
    assert "hint: observation.state arrives 31 ms after its header stamp" in done.stdout


def test_a_truncated_bag_is_named_and_skip_bad_converts_the_others(tmp_path):
    good = write_bag(tmp_path / "good", SyntheticArm(), [(0, 1, "a")], events=False)
    cut = write_bag(tmp_path / "cut", SyntheticArm(), [(0, 1, "b")], events=False)
    mcap_file = next(cut.glob("*.mcap"))
    mcap_file.write_bytes(mcap_file.read_bytes()[: mcap_file.stat().st_size * 2 // 3])  # the recorder was killed
    failed = subprocess.run(command(cut, tmp_path / "ds"), capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1 and "nothing was written" in failed.stderr
    assert f"bag {cut} is truncated: {mcap_file.name} do(es) not end with the mcap footer" in failed.stderr
    assert "--salvage" in failed.stderr and "--skip-bad" in failed.stderr and not (tmp_path / "ds").exists()
    both = [*command(good, tmp_path / "ds"), str(cut), "--skip-bad"]
    done = subprocess.run(both, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"skipped {cut}: bag {cut} is truncated" in done.stderr and "1 bag(s) skipped" in done.stderr
    assert DatasetReader(tmp_path / "ds").tasks == ["a"]


def test_salvage_converts_a_cut_off_recording_up_to_the_cut(tmp_path):
    """The recorder was killed 2/3 into a 2 s episode: its stop event never came. --salvage
    converts the intact part as an episode that ends at the cut, and the report says so."""
    cut = write_bag(tmp_path / "cut", SyntheticArm(), [(0, 2, "pick")])
    mcap_file = next(cut.glob("*.mcap"))
    mcap_file.write_bytes(mcap_file.read_bytes()[: mcap_file.stat().st_size * 2 // 3])
    done = subprocess.run([*command(cut, tmp_path / "ds"), "--salvage"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    reader = DatasetReader(tmp_path / "ds")
    assert reader.num_episodes == 1 and reader.tasks == ["pick"]
    assert 20 <= reader.num_frames < 60, "the intact part only: about two thirds of 2 s at 30 fps"
    (report,) = json.loads(next((tmp_path / "ds" / "meta" / "quality").glob("*.json")).read_text())
    assert report["bag"] == str(cut) and report["salvaged"]["files_cut"] == [mcap_file.name]
    assert report["salvaged"]["messages_kept"] > 100


def test_a_bag_cut_inside_its_first_chunk_has_nothing_to_salvage(tmp_path):
    cut = write_bag(tmp_path / "cut", SyntheticArm(), [(0, 2, "pick")])
    mcap_file = next(cut.glob("*.mcap"))
    mcap_file.write_bytes(mcap_file.read_bytes()[:2000])
    done = subprocess.run([*command(cut, tmp_path / "ds"), "--salvage"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "is cut inside its first chunk: no complete message survived" in done.stderr
    assert "nothing was written" in done.stderr and not (tmp_path / "ds").exists()
