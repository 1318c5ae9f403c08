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
    if profile.bus is not None:
        assert len(profile.joints) == 6 and profile.joint_names[-1] == "gripper"
    else:
        assert all(j.limits is not None for j in profile.joints)


BUSLESS = """robot_type: my_arm
joints:
  - {name: j1, limits: [-1.5, 1.5]}
  - {name: j2}
topics: {joint_states: /joint_states, joint_commands: /forward_position_controller/commands}
"""


def test_a_profile_without_a_bus_describes_any_ros_robot(tmp_path):
    path = tmp_path / "arm.yaml"
    path.write_text(BUSLESS)
    profile = load_profile(path)
    assert profile.bus is None and profile.joint_names == ["j1", "j2"]
    assert profile.joints[0].limits == (-1.5, 1.5) and profile.joints[1].limits is None
    with pytest.raises(ProfileError, match="has no `bus`: it describes a robot this suite does not drive"):
        profile.motors()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("{name: j2}", "{name: j2, id: 2}"), r"unknown field\(s\) \['id'\] \(a profile without"),
        (lambda t: t.replace("{name: j2}", "{name: j1}"), "joint names must be unique"),
        (lambda t: t.replace("[-1.5, 1.5]", "[1.5, -1.5]"), "limits must have low < high"),
        (lambda t: t.replace("[-1.5, 1.5]", "1.5"), r"limits must be \[low, high\] in rad"),
        (lambda t: t + "servo_setup: {all: {ID: 1}}\n", "`servo_setup` needs a `bus`"),
        (lambda t: t + "camera: []\n", r"unknown field\(s\) \['camera'\]; a profile has: robot_type"),
    ],
)
def test_busless_mistakes_are_named(tmp_path, edit, message):
    path = tmp_path / "arm.yaml"
    path.write_text(edit(BUSLESS))
    with pytest.raises(ProfileError, match=message):
        load_profile(path)


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
        (lambda t: t.replace("id: 2", "id: 1"), "servo ids must be unique"),
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
    with pytest.raises(ProfileError, match="no robot profile given: set `profile`"):
        load_profile("")
    with pytest.raises(ProfileError, match="is a folder: give the profile's YAML file"):
        load_profile(tmp_path)
