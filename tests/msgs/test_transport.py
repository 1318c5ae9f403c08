"""Interfaces crossing process boundaries over DDS, through the test harness."""

import numpy as np
from conftest import NODES
from nodes.chunk_talker import expected_chunk
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from lerobot_msgs.msg import ActionChunk as ActionChunkMsg
from lerobot_msgs.msg import EpisodeEvent
from lerobot_msgs.srv import StartEpisode, StopEpisode
from lerobot_policy.nodes.chunk_messages import chunk_from_msg
from ros_harness import RosProbe, RosTestbed


def test_action_chunk_arrives_intact_in_another_process(ros_testbed: RosTestbed, ros_probe: RosProbe):
    talker = ros_testbed.start_python(
        "chunk_talker", str(NODES / "chunk_talker.py"), "--seed", "7", "--horizon", "50", "--dim", "7"
    )
    talker.wait_for_output("chunk_talker ready")
    received = ros_probe.collect(ActionChunkMsg, "action_chunk")
    msg = received.wait_for(1)[0]

    expected = expected_chunk(seed=7, horizon=50, dim=7)
    chunk = chunk_from_msg(msg)
    np.testing.assert_array_equal(chunk.values, expected.values)  # float64, bit for bit
    assert chunk.joint_names == expected.joint_names
    assert chunk.observation_stamp_ns == expected.observation_stamp_ns
    assert chunk.sequence == 7
    assert abs(chunk.period_s - 1 / 30) < 1e-9
    assert talker.stop() in (0, -2)  # clean exit on SIGINT


def test_episode_services_across_processes(ros_testbed: RosTestbed, ros_probe: RosProbe):
    server = ros_testbed.start_python("episode_server", str(NODES / "episode_server.py"))
    server.wait_for_output("episode_server ready")
    events_qos = QoSProfile(
        depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
    )
    events = ros_probe.collect(EpisodeEvent, "episode_events", events_qos)

    refused = ros_probe.call(StartEpisode, "start_episode", StartEpisode.Request(task="  "))
    assert not refused.success and "task is empty" in refused.message

    started = ros_probe.call(StartEpisode, "start_episode", StartEpisode.Request(task="pick the cube"))
    assert started.success and started.episode_index == 0
    busy = ros_probe.call(StartEpisode, "start_episode", StartEpisode.Request(task="again"))
    assert not busy.success and "still recording" in busy.message

    stopped = ros_probe.call(StopEpisode, "stop_episode", StopEpisode.Request(keep=False))
    assert stopped.success and stopped.message == "discarded" and stopped.episode_index == 0
    ros_probe.call(StartEpisode, "start_episode", StartEpisode.Request(task="place it"))
    kept = ros_probe.call(StopEpisode, "stop_episode", StopEpisode.Request(keep=True))
    assert kept.success and kept.episode_index == 1

    got = [(e.event, e.episode_index, e.task) for e in events.wait_for(4)]
    assert got == [
        (EpisodeEvent.START, 0, "pick the cube"),
        (EpisodeEvent.STOP_DISCARD, 0, "pick the cube"),
        (EpisodeEvent.START, 1, "place it"),
        (EpisodeEvent.STOP_KEEP, 1, "place it"),
    ]
