"""`lerobot_view`: the robot in Rerun, live from the graph or from a converted dataset.

lerobot_view live --profile config/so101_follower_sim.yaml [--web | --save run.rrd]
lerobot_view dataset demo_output/dataset --profile config/so101_follower_sim.yaml [--episode 0]
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

import rerun as rr

from lerobot_bringup.errors import BringupError
from lerobot_bringup.view import RobotLog, log_episode
from lerobot_drivers.errors import DriverError
from lerobot_drivers.profile import load_profile
from lerobot_recorder.errors import RecorderError
from lerobot_recorder.reader import DatasetReader


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="lerobot_view", description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    result.add_argument("source", choices=["live", "dataset"], help="the ROS graph, or a LeRobotDataset folder")
    result.add_argument("dataset", nargs="?", type=Path, help="the dataset folder (source dataset)")
    result.add_argument("--profile", required=True, help="the robot profile: topics, cameras, URDF (description)")
    result.add_argument("--episode", type=int, default=0, help="the dataset's episode to show")
    result.add_argument("--chunk-topic", default="policy/action_chunk", help="the policy node's ActionChunk topic")
    sink = result.add_mutually_exclusive_group()
    sink.add_argument("--save", type=Path, help="write a .rrd file (rerun <file> opens it) instead of a viewer")
    sink.add_argument("--web", action="store_true", help="serve Rerun's web viewer (http://localhost:9090)")
    return result


def open_sink(recording: rr.RecordingStream, args: argparse.Namespace) -> None:
    if args.save:
        recording.save(args.save)
    elif args.web:
        uri = recording.serve_grpc()
        rr.serve_web_viewer(open_browser=False, connect_to=uri)
        print(f"Rerun's web viewer: http://localhost:9090/?url={uri}", flush=True)
    else:
        recording.spawn()


def view_live(log: RobotLog, chunk_topic: str, ros_args: list[str]) -> None:
    """Until Ctrl-C; `--ros-args ...` as any node takes them (a namespace, remappings)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    from lerobot_bringup.view_node import ViewNode

    rclpy.init(args=["lerobot_view", *ros_args])
    try:
        node = ViewNode(log, chunk_topic)
        node.get_logger().info(f"logging {log.profile.name}'s topics to Rerun")
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        rclpy.try_shutdown()


def main(argv: list[str] | None = None) -> int:
    args, ros_args = parser().parse_known_args(argv)
    try:
        profile = load_profile(args.profile)
        if ros_args and (args.source == "dataset" or ros_args[0] != "--ros-args"):
            raise BringupError(f"unknown arguments {ros_args}; only live takes --ros-args ...")
        if args.source == "dataset":
            if args.dataset is None:
                raise BringupError("give the dataset folder: lerobot_view dataset <folder> --profile ...")
            reader = DatasetReader(args.dataset)
            if not 0 <= args.episode < reader.num_episodes:
                raise BringupError(f"--episode {args.episode}: the dataset has episodes 0..{reader.num_episodes - 1}")
        recording = rr.RecordingStream("lerobot_view")
        open_sink(recording, args)
        log = RobotLog(recording, profile)
        if args.source == "dataset":
            frames = log_episode(reader, args.episode, log)
            print(f"episode {args.episode}: {frames} frames of {args.dataset} logged", flush=True)
            if args.web:
                threading.Event().wait()  # the web viewer lives as long as this process
        else:
            view_live(log, args.chunk_topic, ros_args)
        recording.flush()
    except (BringupError, DriverError, RecorderError) as exc:
        print(f"lerobot_view: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
