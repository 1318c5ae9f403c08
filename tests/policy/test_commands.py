"""Joint targets in each command interface a profile can name."""

from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time

from lerobot_drivers.errors import ProfileError
from lerobot_drivers.profile import load_profile
from lerobot_policy.nodes.commands import step_message, trajectory

ROOT = Path(__file__).resolve().parents[2]


def test_each_interface_gets_the_step_in_the_profiles_joint_order():
    step = np.array([0.1, -0.2, 0.3])
    array = step_message("float64_array", ["a", "b", "c"], step, Time(sec=5))
    assert list(array.data) == pytest.approx([0.1, -0.2, 0.3])
    state = step_message("joint_state", ["a", "b", "c"], step, Time(sec=5))
    assert list(state.name) == ["a", "b", "c"] and state.header.stamp.sec == 5
    plan = trajectory(["a", "b", "c"], np.stack([step, 2 * step]), first_due_ns=7_250_000_000, period_s=0.05)
    assert (plan.header.stamp.sec, plan.header.stamp.nanosec) == (7, 250_000_000)
    assert [p.time_from_start.nanosec for p in plan.points] == [0, 50_000_000]
    assert list(plan.points[1].positions) == pytest.approx([0.2, -0.4, 0.6])


def test_an_unknown_command_type_is_named(tmp_path):
    profile = tmp_path / "arm.yaml"
    text = (ROOT / "config" / "ros2_control_arm.yaml").read_text()
    profile.write_text(text.replace("command_type: float64_array", "command_type: effort"))
    with pytest.raises(ProfileError, match=r"command_type 'effort' is not one of"):
        load_profile(profile)
