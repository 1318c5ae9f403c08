"""Dataset -> ROS: an episode written back as a bag, or published as topics, for train/serve
parity checks (what a policy sees live can be compared with what it was trained on).

`lerobot_dataset_replay --dataset D --episode 0 --profile P --bag out/` writes a bag the
converter turns back into the same episode; `--publish` plays it on the profile's topics.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from lerobot_drivers.profile import load_profile
from lerobot_recorder.bag import stamped_header, suite_typestore
from lerobot_recorder.errors import DatasetError, RecorderError
from lerobot_recorder.reader import DatasetReader
from lerobot_recorder.spec import DatasetSpec
from lerobot_recorder.synthetic import camera_message

JOINT_STATE, IMAGE, COMPRESSED, STRING = (
    "sensor_msgs/msg/JointState", "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage", "std_msgs/msg/String",
)  # fmt: skip


def episode_messages(
    reader: DatasetReader, index: int, spec: DatasetSpec, start_ns: int
) -> Iterator[tuple[int, str, str, dict]]:
    """(stamp ns, topic, type, fields) of one episode, in time order; frame k at start + k / fps."""
    if not 0 <= index < reader.num_episodes:
        raise DatasetError(f"{reader.root} has episodes 0..{reader.num_episodes - 1}, not {index}")
    data = reader.episode_data(index)
    names = reader.features["observation.state"]["names"]
    n = len(data["frame_index"])
    yield start_ns - 10_000_000, spec.task_topic or "/task", STRING, {"data": reader.tasks[int(data["task_index"][0])]}
    cameras = {
        f"observation.images.{c.name}": c for c in spec.cameras if f"observation.images.{c.name}" in reader.features
    }
    frames = {key: reader.video_frames(index, key, list(range(n))) for key in cameras}
    for k in range(n):
        stamp = start_ns + round(k * 1e9 / reader.fps)
        yield stamp, spec.state_topic, JOINT_STATE, {"name": names, "position": data["observation.state"][k]}
        if spec.action_topic:
            yield stamp, spec.action_topic, JOINT_STATE, {"name": names, "position": data["action"][k]}
        for key, camera in cameras.items():
            yield stamp, camera.topic, COMPRESSED if camera.compressed else IMAGE, {"image": frames[key][k]}


def build(typestore: Any, msgtype: str, stamp_ns: int, fields: dict) -> Any:
    types = typestore.types
    if msgtype == STRING:
        return types[STRING](data=fields["data"])
    header = stamped_header(typestore, stamp_ns)
    if msgtype == JOINT_STATE:
        position = np.asarray(fields["position"], dtype=np.float64)
        return types[JOINT_STATE](
            header=header, name=list(fields["name"]), position=position, velocity=np.zeros(0), effort=np.zeros(0)
        )
    return camera_message(types, header, fields["image"], compressed=msgtype == COMPRESSED)[0]


def write_episode_bag(
    reader: DatasetReader, index: int, spec: DatasetSpec, out: Path, start_ns: int = 1_700_000_000 * 10**9
) -> Path:
    if Path(out).exists():
        raise RecorderError(f"{out} exists: the replay never overwrites a bag")
    typestore = suite_typestore()
    writer = Writer(out, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    connections: dict[str, Any] = {}
    try:
        for stamp, topic, msgtype, fields in episode_messages(reader, index, spec, start_ns):
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=typestore)
            writer.write(
                connections[topic], stamp, typestore.serialize_cdr(build(typestore, msgtype, stamp, fields), msgtype)
            )
    finally:
        writer.close()
    return Path(out)


def publish_episode(reader: DatasetReader, index: int, spec: DatasetSpec, rate: float, wait_s: float = 2.0) -> int:
    """Play the episode on the ROS graph at `rate` x real time; returns messages published.
    Playing starts once the joint states have a subscriber (or after `wait_s`): messages sent
    before discovery has matched them would be lost."""
    import rclpy
    from rclpy.qos import HistoryPolicy, QoSProfile, qos_profile_sensor_data
    from rclpy.serialization import deserialize_message

    from lerobot_recorder.nodes.recorder_node import message_class

    rclpy.init()
    try:
        node = rclpy.create_node("dataset_replay")
        typestore = suite_typestore()
        # keep every sample until each matched reader has it: a reader this process has
        # discovered may not have discovered it yet, and would lose what a depth of 10 drops
        every_sample = QoSProfile(depth=1, history=HistoryPolicy.KEEP_ALL)
        publishers: dict[str, Any] = {
            spec.state_topic: node.create_publisher(message_class(JOINT_STATE), spec.state_topic, every_sample)
        }
        deadline = time.monotonic() + wait_s
        while publishers[spec.state_topic].get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        if publishers[spec.state_topic].get_subscription_count() == 0:
            print(f"no subscriber on {spec.state_topic} within {wait_s:g} s (--wait-s): playing anyway", flush=True)
        start_wall, start_ns, count = time.monotonic(), time.time_ns(), 0
        for stamp, topic, msgtype, fields in episode_messages(reader, index, spec, time.time_ns()):
            delay = (stamp - start_ns) / 1e9 / rate - (time.monotonic() - start_wall)
            if delay > 0:
                time.sleep(delay)
            if topic not in publishers:
                qos = qos_profile_sensor_data if msgtype in (IMAGE, COMPRESSED) else every_sample
                publishers[topic] = node.create_publisher(message_class(msgtype), topic, qos)
            raw = typestore.serialize_cdr(build(typestore, msgtype, stamp, fields), msgtype)  # CDR: same bytes for both
            publishers[topic].publish(deserialize_message(bytes(raw), message_class(msgtype)))
            count += 1
        node.destroy_node()
        return count
    finally:
        rclpy.try_shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a dataset episode back as a bag, or publish it.")
    parser.add_argument("--dataset", required=True, type=Path)
    parser.add_argument("--episode", type=int, default=0)
    parser.add_argument("--profile", required=True, help="the robot profile: topics to write or publish on")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--bag", type=Path, help="write an mcap bag here")
    target.add_argument("--publish", action="store_true", help="publish on the profile's topics")
    parser.add_argument("--rate", type=float, default=1.0, help="with --publish: speed factor")
    parser.add_argument(
        "--wait-s", type=float, default=2.0, help="with --publish: wait this long at most for a joint-state subscriber"
    )
    args = parser.parse_args(argv)
    try:
        reader = DatasetReader(args.dataset)
        spec = DatasetSpec.from_profile(load_profile(args.profile))
        if args.bag:
            print(f"wrote episode {args.episode} to {write_episode_bag(reader, args.episode, spec, args.bag)}")
        else:
            print(f"published {publish_episode(reader, args.episode, spec, args.rate, args.wait_s)} messages")
    except (RecorderError, OSError) as exc:
        print(f"replay failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
