"""LeRobotDataset v3.0: paths, default sizes and the feature schema, in one place."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000
DATA_FILES_SIZE_MB = 100
VIDEO_FILES_SIZE_MB = 200
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
STATS_KEYS = ("min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99")
QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}

DEFAULT_FEATURES: dict[str, dict[str, Any]] = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}


def next_file(chunk_index: int, file_index: int, chunks_size: int = CHUNKS_SIZE) -> tuple[int, int]:
    """The chunk/file after this one: files count to chunks_size - 1, then a new chunk starts."""
    return (chunk_index + 1, 0) if file_index + 1 >= chunks_size else (chunk_index, file_index + 1)


def vector_feature(names: list[str]) -> dict[str, Any]:
    return {"dtype": "float32", "shape": [len(names)], "names": list(names)}


def video_feature(height: int, width: int, fps: int, codec: str, options: dict[str, str]) -> dict[str, Any]:
    return {
        "dtype": "video",
        "shape": [height, width, 3],
        "names": ["height", "width", "channels"],
        "info": {
            "video.height": height,
            "video.width": width,
            "video.codec": {"libsvtav1": "av1", "libx264": "h264"}.get(codec, codec),
            "video.pix_fmt": "yuv420p",
            "video.is_depth_map": False,
            "video.fps": fps,
            "video.channels": 3,
            "video.g": int(options.get("g", 2)),
            "video.crf": int(options.get("crf", 30)),
            "video.preset": options.get("preset"),
            "has_audio": False,
        },
    }


def arrow_type(feature: dict[str, Any]) -> pa.DataType:
    """The parquet column type LeRobot's loader casts to: scalars for shape [1], fixed lists else."""
    dtype = {"float32": pa.float32(), "float64": pa.float64(), "int64": pa.int64(), "bool": pa.bool_()}[
        feature["dtype"]
    ]
    shape = feature["shape"]
    if list(shape) == [1]:
        return dtype
    if len(shape) != 1:
        raise ValueError(f"only 1-D numeric features are stored in parquet, got shape {shape}")
    return pa.list_(dtype, shape[0])


def data_schema(features: dict[str, dict[str, Any]]) -> pa.Schema:
    """Every non-video feature, in features order (LeRobot puts the defaults last)."""
    return pa.schema([(name, arrow_type(f)) for name, f in features.items() if f["dtype"] not in ("video", "image")])
