"""`lerobot_dataset_validate`: check a folder against LeRobotDataset v3 and say what is wrong."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lerobot_recorder import v3_format as fmt
from lerobot_recorder.errors import DatasetError
from lerobot_recorder.reader import DatasetReader

INFO_KEYS = (
    "codebase_version",
    "fps",
    "features",
    "total_episodes",
    "total_frames",
    "total_tasks",
    "data_path",
    "chunks_size",
)


def validate(root: Path) -> list[str]:
    """Every problem found (empty: the folder is a valid v3.0 dataset)."""
    try:
        reader = DatasetReader(root)
    except (DatasetError, json.JSONDecodeError) as exc:
        return [str(exc)]
    problems = [f"info.json lacks {key}" for key in INFO_KEYS if key not in reader.info]
    if problems:
        return problems
    problems += _check_features(reader)
    try:
        tasks, episodes = reader.tasks, reader.episodes
    except (OSError, KeyError, pa.ArrowException) as exc:
        return [*problems, f"meta/tasks.parquet or meta/episodes/ cannot be read: {exc}"]
    if reader.info["total_tasks"] != len(tasks):
        problems.append(f"info says {reader.info['total_tasks']} tasks, tasks.parquet has {len(tasks)}")
    if reader.info["total_episodes"] != len(episodes):
        problems.append(f"info says {reader.info['total_episodes']} episodes, meta/episodes has {len(episodes)}")
    expected_from = 0
    for position, episode in enumerate(episodes):
        problems += _check_episode(reader, position, episode, expected_from)
        expected_from = episode["dataset_to_index"]
    if reader.info["total_frames"] != expected_from:
        problems.append(f"info says {reader.info['total_frames']} frames, the episodes add up to {expected_from}")
    problems += _check_stats(reader)
    problems += _check_timeline(reader)
    return problems


def _check_timeline(reader: DatasetReader) -> list[str]:
    """Where the conversion left quality reports (meta/quality/): each episode's frames must
    cover its recorded time without a hole, frame k at the first frame's time + k / fps."""
    problems = []
    lengths = {e["episode_index"]: e["length"] for e in reader.episodes}
    for path in sorted((reader.root / "meta" / "quality").glob("*.json")):
        try:
            reports = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"{path.relative_to(reader.root)} cannot be read: {exc}")
            continue
        for report in reports:
            if "first_frame_s" not in report:
                continue  # written before reports had the timeline
            index = report["episode_index"]
            ticks = round((report["last_frame_s"] - report["first_frame_s"]) * reader.fps) + 1
            if lengths.get(index) != ticks:
                problems.append(
                    f"episode {index}: {lengths.get(index)} frames cover {ticks} ticks of recorded time at "
                    f"{reader.fps} fps: the timeline has holes, so timestamps drift from real time"
                )
    return problems


def _check_features(reader: DatasetReader) -> list[str]:
    problems = []
    for name, spec in fmt.DEFAULT_FEATURES.items():
        got = reader.features.get(name)
        if got is None or got["dtype"] != spec["dtype"] or list(got["shape"]) != spec["shape"]:
            problems.append(f"feature {name} must be {spec['dtype']} {spec['shape']}, found {got}")
    problems += [f"feature name {name!r} contains '/'" for name in reader.features if "/" in name]
    return problems


def _check_episode(reader: DatasetReader, position: int, episode: dict, expected_from: int) -> list[str]:
    index = episode["episode_index"]
    where = f"episode {index}"
    problems = []
    if index != position:
        problems.append(f"meta/episodes row {position} holds episode {index}: episodes must be 0..N-1 in order")
    if (
        episode["dataset_from_index"] != expected_from
        or episode["dataset_to_index"] - expected_from != episode["length"]
    ):
        given = f"[{episode['dataset_from_index']}, {episode['dataset_to_index']})"
        problems.append(f"{where}: rows {given} do not follow on from {expected_from} with length {episode['length']}")
    path = reader.data_path(episode)
    if not path.exists():
        return [*problems, f"{where}: data file {path.relative_to(reader.root)} is missing"]
    table = pq.read_table(path, filters=[("episode_index", "=", index)])
    wanted = [n for n, f in reader.features.items() if f["dtype"] not in ("video", "image")]
    if table.column_names != wanted:
        problems.append(f"{path.name}: columns {table.column_names}, the features say {wanted}")
        return problems
    for name in wanted:
        expected = fmt.arrow_type(reader.features[name])
        if table.schema.field(name).type != expected:
            problems.append(f"{path.name}: column {name} is {table.schema.field(name).type}, should be {expected}")
    frames = np.asarray(table.column("frame_index").to_pylist())
    if len(frames) != episode["length"] or not np.array_equal(frames, np.arange(len(frames))):
        problems.append(f"{where}: frame_index is not 0..{episode['length'] - 1}")
    rows = np.asarray(table.column("index").to_pylist())
    if not np.array_equal(rows, np.arange(episode["dataset_from_index"], episode["dataset_to_index"])):
        problems.append(f"{where}: index column does not match [dataset_from_index, dataset_to_index)")
    stamps = np.asarray(table.column("timestamp").to_pylist())
    if len(stamps) == len(frames) and np.max(np.abs(stamps - frames / reader.fps), initial=0) > 1e-4:
        problems.append(f"{where}: timestamps are not frame_index / fps")
    for key in reader.video_keys:
        problems += _check_video(reader, episode, key)
    return problems


def _check_video(reader: DatasetReader, episode: dict, key: str) -> list[str]:
    where = f"episode {episode['episode_index']}, {key}"
    path = reader.video_path(episode, key)
    if not path.exists():
        return [f"{where}: video {path.relative_to(reader.root)} is missing"]
    start, end = episode[f"videos/{key}/from_timestamp"], episode[f"videos/{key}/to_timestamp"]
    if abs((end - start) * reader.fps - episode["length"]) > 1e-3:
        return [f"{where}: [{start}, {end}) s is not {episode['length']} frames at {reader.fps} fps"]
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        height, width, _ = reader.features[key]["shape"]
        if (stream.height, stream.width) != (height, width):
            return [f"{where}: video is {stream.width}x{stream.height}, the feature says {width}x{height}"]
        frames = stream.frames or sum(1 for _ in container.demux(stream) if _.size)
    if frames < round(end * reader.fps):
        return [f"{where}: {path.name} has {frames} frames, the episode ends at frame {round(end * reader.fps)}"]
    return []


def _check_stats(reader: DatasetReader) -> list[str]:
    try:
        stats = reader.stats
    except (OSError, json.JSONDecodeError) as exc:
        return [f"meta/stats.json cannot be read: {exc}"]
    problems = []
    for name, feature in reader.features.items():
        if name not in stats:
            problems.append(f"stats.json has no entry for {name}")
            continue
        if missing := [k for k in fmt.STATS_KEYS if k not in stats[name]]:
            problems.append(f"stats.json: {name} lacks {missing}")
            continue
        shape = (3, 1, 1) if feature["dtype"] == "video" else tuple(feature["shape"])
        if stats[name]["mean"].shape != shape:
            problems.append(f"stats.json: {name} mean has shape {stats[name]['mean'].shape}, expected {shape}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a LeRobotDataset v3 folder.")
    parser.add_argument("root", type=Path)
    args = parser.parse_args(argv)
    problems = validate(args.root)
    for problem in problems:
        print(f"- {problem}")
    print(f"{args.root}: {'valid LeRobotDataset v3.0' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
