"""Reading a LeRobotDataset v3 folder: metadata, frames, and video frames by timestamp.

Training and the checks read datasets through this, with the same addressing LeRobot uses
(an episode's rows are [dataset_from_index, dataset_to_index), its video frames sit at
from_timestamp + timestamp in its file).
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from lerobot_recorder import v3_format as fmt
from lerobot_recorder.errors import DatasetError
from lerobot_recorder.video import decode_frames


class DatasetReader:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        info_path = self.root / fmt.INFO_PATH
        if not info_path.exists():
            raise DatasetError(f"{self.root} is not a LeRobot dataset: {fmt.INFO_PATH} is missing")
        self.info: dict[str, Any] = json.loads(info_path.read_text())
        if self.info.get("codebase_version") != fmt.CODEBASE_VERSION:
            raise DatasetError(f"{self.root} is {self.info.get('codebase_version')}, this reader reads v3.0")

    @property
    def fps(self) -> int:
        return int(self.info["fps"])

    @property
    def features(self) -> dict[str, dict[str, Any]]:
        return self.info["features"]

    @property
    def video_keys(self) -> list[str]:
        return [k for k, f in self.features.items() if f["dtype"] == "video"]

    @cached_property
    def tasks(self) -> list[str]:
        import pandas as pd  # only here: it costs 0.3 s of start-up

        table = pd.read_parquet(self.root / fmt.TASKS_PATH)
        return [str(task) for task, _ in sorted(zip(table.index, table["task_index"], strict=True), key=lambda x: x[1])]

    @cached_property
    def episodes(self) -> list[dict[str, Any]]:
        files = sorted((self.root / "meta" / "episodes").glob("*/*.parquet"))
        return pq.read_table(files).to_pylist() if files else []

    @cached_property
    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        raw = json.loads((self.root / fmt.STATS_PATH).read_text())
        return {feature: {k: np.asarray(v) for k, v in s.items()} for feature, s in raw.items()}

    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    @property
    def num_frames(self) -> int:
        return int(self.info["total_frames"])

    def data_path(self, episode: dict[str, Any]) -> Path:
        return self.root / self.info["data_path"].format(
            chunk_index=episode["data/chunk_index"], file_index=episode["data/file_index"]
        )

    def video_path(self, episode: dict[str, Any], key: str) -> Path:
        return self.root / self.info["video_path"].format(
            video_key=key,
            chunk_index=episode[f"videos/{key}/chunk_index"],
            file_index=episode[f"videos/{key}/file_index"],
        )

    def episode_data(self, episode_index: int) -> dict[str, np.ndarray]:
        """Every parquet column of one episode, as arrays (vectors stacked to (frames, dims))."""
        episode = self.episodes[episode_index]
        table = pq.read_table(self.data_path(episode), filters=[("episode_index", "=", episode_index)])
        return {name: np.asarray(table.column(name).to_pylist()) for name in table.column_names}

    def video_frames(self, episode_index: int, key: str, frame_indices: list[int]) -> list[np.ndarray]:
        episode = self.episodes[episode_index]
        start = episode[f"videos/{key}/from_timestamp"]
        times = [start + i / self.fps for i in frame_indices]
        return decode_frames(self.video_path(episode, key), times)

    def frame(self, index: int) -> dict[str, Any]:
        """One frame by global index: numeric features, the task, and decoded images (H, W, 3)."""
        episode = next((e for e in self.episodes if e["dataset_from_index"] <= index < e["dataset_to_index"]), None)
        if episode is None:
            raise DatasetError(f"frame {index} is outside the dataset's {self.num_frames} frames")
        data = self.episode_data(episode["episode_index"])
        offset = index - episode["dataset_from_index"]
        item: dict[str, Any] = {name: values[offset] for name, values in data.items()}
        item["task"] = self.tasks[int(item["task_index"])]
        for key in self.video_keys:
            item[key] = self.video_frames(episode["episode_index"], key, [offset])[0]
        return item
