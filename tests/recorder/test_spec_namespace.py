"""Profiles name topics relatively: a conversion resolves them in the robot's namespace."""

from pathlib import Path

from lerobot_drivers.profile import load_profile, resolve_topic
from lerobot_recorder.spec import DatasetSpec

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_relative_topics_resolve_in_the_namespace_and_absolute_ones_stay():
    assert resolve_topic("follower/joint_states") == "/follower/joint_states"
    assert resolve_topic("follower/joint_states", "/lab/arm1/") == "/lab/arm1/follower/joint_states"
    assert resolve_topic("/joint_states", "/arm1") == "/joint_states"


def test_the_spec_resolves_every_topic_of_the_profile():
    profile = load_profile(CONFIG / "so101_follower_sim.yaml")
    root, arm = DatasetSpec.from_profile(profile), DatasetSpec.from_profile(profile, namespace="/arm1")
    assert (root.state_topic, root.action_topic) == ("/follower/joint_states", "/follower/joint_commands")
    assert (arm.state_topic, arm.action_topic) == ("/arm1/follower/joint_states", "/arm1/follower/joint_commands")
    assert (arm.task_topic, arm.events_topic) == ("/arm1/task", "/arm1/episode_events")
    assert [c.topic for c in arm.cameras] == ["/arm1/front/image_raw/compressed", "/arm1/wrist/image_raw"]
