"""The live recorder node in its own process, fed by publishers in the test process."""

import math
import sys
import time
from pathlib import Path

import numpy as np
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, JointState

from lerobot_drivers.cameras import synthetic_frame
from lerobot_drivers.images import fill_compressed, fill_image
from lerobot_drivers.profile import load_profile
from lerobot_msgs.msg import EpisodeEvent
from lerobot_msgs.srv import StartEpisode, StopEpisode
from lerobot_recorder.convert import convert
from lerobot_recorder.reader import DatasetReader
from lerobot_recorder.spec import DatasetSpec
from lerobot_recorder.validate import validate

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "config" / "so101_follower_sim.yaml"
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]


def start_publishing(probe) -> None:
    node = probe.node
    state = node.create_publisher(JointState, "/follower/joint_states", 10)
    command = node.create_publisher(JointState, "/follower/joint_commands", 10)
    front = node.create_publisher(CompressedImage, "/front/image_raw/compressed", qos_profile_sensor_data)
    wrist = node.create_publisher(Image, "/wrist/image_raw", qos_profile_sensor_data)
    counter = {"frame": 0}

    def joints(publisher, lead: float) -> None:
        now = node.get_clock().now()
        t = now.nanoseconds / 1e9 + lead
        msg = JointState(name=JOINTS, position=[0.5 * math.sin(t + i) for i in range(6)])
        msg.header.stamp = now.to_msg()
        publisher.publish(msg)

    def cameras() -> None:
        image = synthetic_frame(counter["frame"], 160, 120)
        counter["frame"] += 1
        stamp = node.get_clock().now().to_msg()
        jpeg = fill_compressed(CompressedImage(), image)
        raw = fill_image(Image(), image)
        jpeg.header.stamp = raw.header.stamp = stamp
        front.publish(jpeg)
        wrist.publish(raw)

    node.create_timer(0.01, lambda: joints(state, 0.0))
    node.create_timer(0.02, lambda: joints(command, 0.05))
    node.create_timer(1 / 30, cameras)


def test_record_keep_discard_interrupt_then_convert(ros_testbed, ros_probe, tmp_path):
    output = tmp_path / "bags"
    recorder = ros_testbed.start(
        "recorder",
        [sys.executable, "-m", "lerobot_recorder.nodes.recorder_node", "--ros-args",
         "-p", f"profile:={PROFILE}", "-p", f"output:={output}", "-p", "autostart:=true"],
    )  # fmt: skip
    events_qos = QoSProfile(
        depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
    )
    events = ros_probe.collect(EpisodeEvent, "/episode_events", events_qos)
    start_publishing(ros_probe)
    for topic in (
        "/follower/joint_states",
        "/follower/joint_commands",
        "/front/image_raw/compressed",
        "/wrist/image_raw",
    ):
        recorder.wait_for_output(f"subscribed {topic}")

    started = ros_probe.call(StartEpisode, "/start_episode", StartEpisode.Request(task="pick the cube"))
    assert started.success and started.episode_index == 0, started.message
    time.sleep(2.0)
    kept = ros_probe.call(StopEpisode, "/stop_episode", StopEpisode.Request(keep=True))
    assert kept.success and kept.path.endswith("episode_000000"), kept.message

    assert ros_probe.call(StartEpisode, "/start_episode", StartEpisode.Request(task="oops")).success
    time.sleep(0.3)
    discarded = ros_probe.call(StopEpisode, "/stop_episode", StopEpisode.Request(keep=False))
    assert discarded.success and discarded.path == ""
    refused = ros_probe.call(StopEpisode, "/stop_episode", StopEpisode.Request(keep=True))
    assert not refused.success and "no episode is recording" in refused.message

    assert ros_probe.call(StartEpisode, "/start_episode", StartEpisode.Request(task="cut short")).success
    time.sleep(0.5)
    assert recorder.stop() == 0
    assert sorted(p.name for p in output.iterdir()) == ["episode_000000", "episode_000002.interrupted"]

    got = [(e.event, e.episode_index) for e in events.wait_for(5)]
    assert got[:4] == [(0, 0), (1, 0), (0, 1), (2, 1)]

    reports = convert([output / "episode_000000"], DatasetSpec.from_profile(load_profile(PROFILE)), tmp_path / "ds")
    assert validate(tmp_path / "ds") == []
    reader = DatasetReader(tmp_path / "ds")
    assert reader.tasks == ["pick the cube"]
    span = (reports[0]["end_s"] - reports[0]["start_s"]) * 30  # frames the episode's duration holds
    assert span - 8 <= reports[0]["frames"] <= span + 1, reports[0]
    assert np.abs(reader.episode_data(0)["observation.state"]).max() <= 0.5 + 1e-6
