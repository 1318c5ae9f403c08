"""Bags and specs for the recorder tests."""

from pathlib import Path

import pytest

from lerobot_drivers.profile import load_profile
from lerobot_recorder.spec import DatasetSpec

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT.parent / "shared" / "data" / "rosbag2_samples"


@pytest.fixture
def profile():
    return load_profile(ROOT / "config" / "so101_follower_sim.yaml")


@pytest.fixture
def spec(profile):
    return DatasetSpec.from_profile(profile)
