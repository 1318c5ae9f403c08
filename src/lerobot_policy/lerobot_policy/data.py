"""Training samples from a LeRobotDataset v3 folder, addressed as LeRobot addresses them.

A sample is one frame: its camera images, its state, the action chunk that starts at it
(indices past the episode's end repeat the last action and are marked as padding, as
LeRobot's `action_is_pad`), its task and, when the dataset has one, a text target column.
Numeric columns are read once into memory; video frames are decoded per sample (LeRobot's
videos have a keyframe every 2 frames, so a seek costs at most one extra frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch

from lerobot_policy.errors import PolicyError
from lerobot_recorder.reader import DatasetReader


@dataclass(frozen=True)
class Keys:
    state: str = "observation.state"
    action: str = "action"
    cameras: tuple[str, ...] | None = None  # None: every video feature, in the dataset's order
    text_target: str | None = None  # a per-frame string column to predict as text


class TrainingFrames(torch.utils.data.Dataset):
    def __init__(self, root: Path, *, chunk_size: int, keys: Keys = Keys()) -> None:
        self.reader = DatasetReader(root)
        self.chunk_size = chunk_size
        features = self.reader.features
        cameras = list(keys.cameras) if keys.cameras is not None else self.reader.video_keys
        wanted = [keys.state, keys.action, *cameras] + ([keys.text_target] if keys.text_target else [])
        missing = [key for key in wanted if key not in features]
        if missing:
            raise PolicyError(f"{self.reader.root} has no feature {missing}; it has {sorted(features)}")
        not_video = [key for key in cameras if features[key]["dtype"] != "video"]
        if not_video:
            raise PolicyError(f"cameras {not_video} are not video features of {self.reader.root}")
        if self.reader.num_frames == 0:
            raise PolicyError(f"{self.reader.root} holds no frames")
        self.keys, self.cameras = keys, cameras
        columns = self._columns([keys.state, keys.action, "episode_index", "frame_index", "task_index"])
        self.states = np.asarray(columns[keys.state], dtype=np.float32)
        self.actions = np.asarray(columns[keys.action], dtype=np.float32)
        self.episode_of = np.asarray(columns["episode_index"], dtype=np.int64)
        self.frame_of = np.asarray(columns["frame_index"], dtype=np.int64)
        self.task_of = np.asarray(columns["task_index"], dtype=np.int64)
        self.text_targets = self._columns([keys.text_target])[keys.text_target] if keys.text_target else None
        episodes = {e["episode_index"]: e for e in self.reader.episodes}
        self.episode_end = np.array([episodes[int(e)]["dataset_to_index"] for e in self.episode_of], dtype=np.int64)

    def _columns(self, names: list[str]) -> dict[str, list[Any]]:
        """Whole columns over every data file, in global frame order."""
        paths = sorted({self.reader.data_path(e) for e in self.reader.episodes})
        tables = [pq.read_table(path, columns=[*names, "index"]) for path in paths]
        index = np.concatenate([t.column("index").to_numpy() for t in tables])
        order = np.argsort(index, kind="stable")
        if not np.array_equal(index[order], np.arange(self.reader.num_frames)):
            raise PolicyError(f"{self.reader.root}: frame indices are not 0..{self.reader.num_frames - 1}")
        return {name: [values[i] for i in order] for name, values in
                ((n, [row for t in tables for row in t.column(n).to_pylist()]) for n in names)}  # fmt: skip

    def __len__(self) -> int:
        return len(self.states)

    @property
    def state_dim(self) -> int:
        return self.states.shape[1]

    @property
    def action_dim(self) -> int:
        return self.actions.shape[1]

    def chunk(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(chunk_size, action_dim) actions from `index`, and which steps lie past the episode."""
        steps = index + np.arange(self.chunk_size)
        pad = steps >= self.episode_end[index]
        return self.actions[np.minimum(steps, self.episode_end[index] - 1)], pad

    def sample_chunks(self, count: int, seed: int = 0) -> np.ndarray:
        """Chunks from random frames, without padding steps: what the FAST tokenizer is fitted on."""
        valid = np.flatnonzero(self.episode_end - np.arange(len(self)) >= self.chunk_size)
        if len(valid) == 0:
            raise PolicyError(f"no episode of {self.reader.root} is {self.chunk_size} frames long (chunk_size)")
        picked = np.random.default_rng(seed).choice(valid, size=min(count, len(valid)), replace=False)
        return np.stack([self.chunk(int(i))[0] for i in picked])

    def __getitem__(self, index: int) -> dict[str, Any]:
        actions, pad = self.chunk(index)
        episode = int(self.episode_of[index])
        frame = int(self.frame_of[index])
        sample: dict[str, Any] = {
            "state": self.states[index],
            "actions": actions,
            "action_pad": pad,
            "task": self.reader.tasks[int(self.task_of[index])],
            "images": [self.reader.video_frames(episode, key, [frame])[0] for key in self.cameras],
        }
        if self.text_targets is not None:
            sample["text_target"] = str(self.text_targets[index])
        return sample
