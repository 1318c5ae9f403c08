"""Bags of a robot arm that never existed: deterministic, with the flaws real bags have.

Used by the tests, the benchmark and the demo. Joint i follows 0.5 sin(2 pi f t + i); the
command leads the state by 50 ms; camera frames carry their index (lerobot_drivers.cameras)
so a reader can tell exactly which frame it got.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode

from lerobot_drivers.cameras import synthetic_frame
from lerobot_drivers.images import fill_compressed, fill_image
from lerobot_recorder.bag import stamped_header, suite_typestore

NS = 1_000_000_000


@dataclass
class SyntheticArm:
    joints: tuple[str, ...] = (
        "shoulder_pan",
        "shoulder_lift",
        "elbow_flex",
        "wrist_flex",
        "wrist_roll",
        "gripper",
    )
    state_topic: str = "/follower/joint_states"
    command_topic: str = "/follower/joint_commands"
    state_hz: float = 100.0
    command_hz: float = 50.0
    camera_hz: float = 30.0
    cameras: dict[str, tuple[str, bool]] = field(
        default_factory=lambda: {
            "front": ("/front/image_raw/compressed", True),
            "wrist": ("/wrist/image_raw", False),
        }
    )
    width: int = 160
    height: int = 120
    compressed_format: str = "png"  # png keeps frames exact; jpeg is what cameras usually publish
    jitter_s: float = 0.002  # stamps are irregular
    drop_every: int = 0  # drop every n-th camera frame (0: none)
    zero_stamp_every: int = 0  # every n-th state message has a zero header stamp
    late_every: int = 0  # every n-th camera frame reaches the recorder late_s after the others
    late_s: float = 0.0
    state_lag_s: float = 0.0  # state header stamps this much older than the sample's time (a slow driver)
    camera_blackout: tuple[float, float] | None = None  # (from s, to s): no camera frame in between
    start_s: float = 1_700_000_000.0

    def position(self, t: float) -> np.ndarray:
        return 0.5 * np.sin(2 * np.pi * 0.25 * t + np.arange(len(self.joints)))

    def command(self, t: float) -> np.ndarray:
        return self.position(t + 0.05)


def camera_message(
    types: dict, header: object, image: np.ndarray, compressed: bool, image_format: str = "png"
) -> tuple[object, str]:
    """A CompressedImage or an rgb8 Image of `image`, as rosbags message objects."""
    empty = np.zeros(0, np.uint8)
    if compressed:
        msgtype = "sensor_msgs/msg/CompressedImage"
        msg = fill_compressed(types[msgtype](header=header, format="", data=empty), image, image_format)
    else:
        msgtype = "sensor_msgs/msg/Image"
        msg = fill_image(
            types[msgtype](header=header, height=0, width=0, encoding="", is_bigendian=0, step=0, data=empty), image
        )
    msg.data = np.frombuffer(msg.data, np.uint8)
    return msg, msgtype


class _Messages:
    """Serialized messages of a synthetic recording, collected in any order, written sorted."""

    def __init__(self, arm: SyntheticArm, seed: int) -> None:
        self.arm = arm
        self.rng = np.random.default_rng(seed)
        self.typestore = suite_typestore()
        self.types = self.typestore.types
        self.items: list[tuple[int, str, bytes]] = []
        self.frames = dict.fromkeys(arm.cameras, 0)

    def header(self, seconds: float) -> object:
        return stamped_header(self.typestore, round(seconds * NS))

    def add(self, key: str, receive_s: float, msg: object, msgtype: str) -> None:
        self.items.append((round(receive_s * NS), key, self.typestore.serialize_cdr(msg, msgtype)))

    def joint_state(self, stamp_s: float, positions: np.ndarray) -> object:
        empty = np.zeros(0)
        return self.types["sensor_msgs/msg/JointState"](
            header=self.header(stamp_s), name=list(self.arm.joints), position=positions, velocity=empty, effort=empty
        )

    def episode(self, index: int, start: float, end: float, task: str, *, events: bool, keep: bool = True) -> None:
        arm, t0, t1 = self.arm, self.arm.start_s + start, self.arm.start_s + end
        self.add("task", t0 - 0.01, self.types["std_msgs/msg/String"](data=task), "std_msgs/msg/String")
        if events:
            for event, t in ((0, t0), (1 if keep else 2, t1)):
                msg = self.types["lerobot_msgs/msg/EpisodeEvent"](
                    header=self.header(t), event=event, episode_index=index, task=task
                )
                self.add("events", t + 0.001, msg, "lerobot_msgs/msg/EpisodeEvent")
        for k, t in enumerate(np.arange(t0, t1, 1 / arm.state_hz)):
            t_stamp = t + self.rng.uniform(-arm.jitter_s, arm.jitter_s)
            zero = arm.zero_stamp_every and k % arm.zero_stamp_every == 0
            self.add(
                "state",
                t_stamp + 0.001,
                self.joint_state(0.0 if zero else t_stamp - arm.state_lag_s, arm.position(t_stamp)),
                "sensor_msgs/msg/JointState",
            )
        for t in np.arange(t0, t1, 1 / arm.command_hz):
            self.add("command", t + 0.001, self.joint_state(t, arm.command(t)), "sensor_msgs/msg/JointState")
        for name, (_topic, compressed) in arm.cameras.items():
            for t in np.arange(t0, t1, 1 / arm.camera_hz):
                i = self.frames[name]
                self.frames[name] += 1
                if arm.drop_every and i % arm.drop_every == arm.drop_every - 1:
                    continue
                if arm.camera_blackout and arm.camera_blackout[0] <= t - arm.start_s < arm.camera_blackout[1]:
                    continue
                t_stamp = t + self.rng.uniform(-arm.jitter_s, arm.jitter_s)
                image = synthetic_frame(i, arm.width, arm.height)
                msg, msgtype = camera_message(
                    self.types, self.header(t_stamp), image, compressed, arm.compressed_format
                )
                late = arm.late_s if arm.late_every and i % arm.late_every == arm.late_every - 1 else 0.0
                self.add(name, t_stamp + 0.005 + late, msg, msgtype)


def write_bag(
    path: Path,
    arm: SyntheticArm,
    episodes: list[tuple],  # (start s, end s, task[, keep]) relative to arm.start_s; keep=False: discarded
    *,
    storage: str = "mcap",
    events: bool = True,
    compression: str | None = None,  # "file" or "message" (zstd)
    seed: int = 0,
) -> Path:
    """Write one bag holding `episodes` (with EpisodeEvent messages when `events`)."""
    messages = _Messages(arm, seed)
    for index, (start, end, task, *keep) in enumerate(episodes):
        messages.episode(index, start, end, task, events=events, keep=keep[0] if keep else True)
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    writer = Writer(path, version=9, storage_plugin=plugin)
    if compression:
        writer.set_compression(CompressionMode[compression.upper()], CompressionFormat.ZSTD)
    writer.open()
    try:
        typestore = messages.typestore
        connections = {
            "state": writer.add_connection(arm.state_topic, "sensor_msgs/msg/JointState", typestore=typestore),
            "command": writer.add_connection(arm.command_topic, "sensor_msgs/msg/JointState", typestore=typestore),
            "task": writer.add_connection("/task", "std_msgs/msg/String", typestore=typestore),
            "events": writer.add_connection("/episode_events", "lerobot_msgs/msg/EpisodeEvent", typestore=typestore),
        }
        for name, (topic, compressed) in arm.cameras.items():
            msgtype = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
            connections[name] = writer.add_connection(topic, msgtype, typestore=typestore)
        for receive, key, raw in sorted(messages.items, key=lambda item: item[0]):
            writer.write(connections[key], receive, raw)
    finally:
        writer.close()
    return path


def split_bag(bag: Path, parts: int) -> Path:
    """Re-cut a single-file bag into `parts` files of one bag, as `ros2 bag record --max-bag-size`
    does, so readers see one bag split over several files."""
    metadata_path = bag / "metadata.yaml"
    metadata = yaml.safe_load(metadata_path.read_text())
    info = metadata["rosbag2_bagfile_information"]
    plugin = StoragePlugin.MCAP if info["storage_identifier"] == "mcap" else StoragePlugin.SQLITE3
    with Reader(bag) as reader:
        connections = list(reader.connections)
        messages = list(reader.messages())
    bounds = np.linspace(0, len(messages), parts + 1).astype(int)
    files, relative = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for part in range(parts):
            target = Path(scratch) / f"part{part}"
            writer = Writer(target, version=9, storage_plugin=plugin)
            writer.open()
            mapping = {
                c.id: writer.add_connection(c.topic, c.msgtype, msgdef=c.msgdef.data, rihs01=c.digest)
                for c in connections
            }
            for connection, timestamp, raw in messages[bounds[part] : bounds[part + 1]]:
                writer.write(mapping[connection.id], timestamp, raw)
            writer.close()
            part_info = yaml.safe_load((target / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
            for entry in part_info["files"]:
                name = f"{bag.name}_{part}{Path(entry['path']).suffix}"
                shutil.move(target / entry["path"], Path(scratch) / name)
                files.append({**entry, "path": name})
                relative.append(name)
        for old in info["relative_file_paths"]:
            (bag / old).unlink()
        for name in relative:
            shutil.move(Path(scratch) / name, bag / name)
    info["relative_file_paths"], info["files"] = relative, files
    metadata_path.write_text(yaml.safe_dump(metadata, sort_keys=False))
    return bag
