"""Robot profiles: every shipped one loads; mistakes are named with file and field."""

from pathlib import Path

import pytest

from lerobot_drivers.errors import ProfileError
from lerobot_drivers.profile import load_profile

ROOT = Path(__file__).resolve().parents[2]
GOOD = """robot_type: so101_follower
bus: {protocol: feetech, port: /dev/null}
joints:
  - {name: a, id: 1, model: sts3215}
  - {name: b, id: 2, model: sts3215, norm_mode: range_0_100}
"""


@pytest.mark.parametrize("path", sorted((ROOT / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_profiles_load(path):
    profile = load_profile(path)
    assert len(profile.joints) == 6 and profile.joint_names[-1] == "gripper"


def test_calibration_defaults_to_lerobots_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_LEROBOT_CALIBRATION", str(tmp_path / "cal"))
    path = tmp_path / "arm.yaml"
    path.write_text(GOOD)
    assert load_profile(path).calibration == tmp_path / "cal" / "robots" / "so101_follower" / "arm.json"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("robot_type: so101_follower\n", ""), "missing required field `robot_type`"),
        (lambda t: t.replace("model: sts3215}", "model: sts9999}", 1), "unknown model 'sts9999'"),
        (
            lambda t: t.replace("model: sts3215}", "model: xl330-m288}", 1),
            "is a xl330-m288, not a feetech servo",
        ),
        (lambda t: t.replace("id: 2", "id: 1"), "ids must be unique"),
        (lambda t: t.replace("range_0_100", "percent"), "norm_mode must be one of"),
        (lambda t: t + "control: {rate_hz: 0}\n", "must be > 0"),
        (lambda t: t + "control: {rate: 5}\n", r"unknown field\(s\) \['rate'\] in `control`"),
        (lambda t: t + "servo_setup: {all: {Not_A_Register: 1}}\n", "has no register 'Not_A_Register'"),
        (lambda t: t + "servo_setup: {elbow: {ID: 1}}\n", "names joint 'elbow'"),
        (lambda t: "- just a list\n", "a profile is a mapping"),
    ],
)
def test_mistakes_are_named(tmp_path, edit, message):
    path = tmp_path / "arm.yaml"
    path.write_text(edit(GOOD))
    with pytest.raises(ProfileError, match=message):
        load_profile(path)


def test_missing_profile_points_to_config(tmp_path):
    with pytest.raises(ProfileError, match="does not exist; the suite's profiles are in config/"):
        load_profile(tmp_path / "nope.yaml")
