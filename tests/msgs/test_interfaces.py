"""The suite's interfaces, as generated from src/lerobot_msgs."""

from lerobot_msgs.msg import ActionChunk, EpisodeEvent, PolicyStatus
from lerobot_msgs.srv import StartEpisode, StopEpisode


def test_action_chunk_fields():
    fields = ActionChunk.get_fields_and_field_types()
    assert fields == {
        "header": "std_msgs/Header",
        "observation_stamp": "builtin_interfaces/Time",
        "sequence": "uint64",
        "joint_names": "sequence<string>",
        "horizon": "uint32",
        "action_dim": "uint32",
        "period": "builtin_interfaces/Duration",
        "start_offset": "builtin_interfaces/Duration",
        "values": "sequence<double>",
    }


def test_episode_event_constants_are_distinct():
    assert len({EpisodeEvent.START, EpisodeEvent.STOP_KEEP, EpisodeEvent.STOP_DISCARD}) == 3


def test_policy_status_states():
    states = [name for name in dir(PolicyStatus) if name.startswith("STATE_")]
    assert len({getattr(PolicyStatus, name) for name in states}) == len(states) == 5


def test_episode_services():
    assert StartEpisode.Request.get_fields_and_field_types() == {"task": "string"}
    assert StopEpisode.Request.get_fields_and_field_types() == {"keep": "boolean"}
    assert "path" in StopEpisode.Response.get_fields_and_field_types()
