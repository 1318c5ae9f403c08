"""The LeRobotDataset v3 writer: new datasets and appends, never half-written.

Everything is built in a staging folder beside the dataset: the files of an existing dataset
are hard-linked in (no copy), new episodes go to new data and video files, meta files are
written afresh (a hard link is unlinked first, so the original is never touched). `commit()`
swaps the staging folder in with two renames; an error or interruption before that leaves
the previous dataset exactly as it was, and a crash between the renames is finished by the
next writer that opens the dataset.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lerobot_recorder import stats as stats_lib
from lerobot_recorder import v3_format as fmt
from lerobot_recorder.errors import CancelledConversionError, DatasetError
from lerobot_recorder.reader import DatasetReader
from lerobot_recorder.video import VideoFileWriter, codec_options


@dataclass
class Episode:
    """One episode to write: one frame stream per camera, then its task and numeric columns.

    `finish` is called while the frames are being encoded and may block until they are all
    through: a streaming conversion knows the columns and task only at the episode's end.
    """

    videos: Mapping[str, Iterable[np.ndarray]]  # video key -> RGB frames
    finish: Callable[[], tuple[str, dict[str, np.ndarray]]]  # -> task, feature -> (frames, dims)
    cancel: Callable[[], None]  # stops whatever feeds `videos`: the episode failed


def recover(root: Path) -> None:
    """Finish or undo a commit that a crash interrupted, and drop stale staging folders."""
    old = root.parent / f".{root.name}.previous"
    staged = sorted(root.parent.glob(f".{root.name}.staging-*"))
    if not root.exists() and old.exists():
        complete = [s for s in staged if (s / ".complete").exists()]
        (complete[-1] if complete else old).rename(root)
    if old.exists():
        shutil.rmtree(old)
    for stale in root.parent.glob(f".{root.name}.staging-*"):
        shutil.rmtree(stale)


def hard_link_tree(source: Path, target: Path) -> None:
    for path in source.rglob("*"):
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, destination)


def write_fresh(path: Path) -> Path:
    """A path safe to write: a hard link to the previous dataset is removed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    return path


class DatasetWriter:
    def __init__(
        self,
        root: Path,
        *,
        fps: int,
        robot_type: str,
        features: dict[str, dict[str, Any]],
        codec: str = "libsvtav1",
        data_files_size_mb: float = fmt.DATA_FILES_SIZE_MB,
        video_files_size_mb: float = fmt.VIDEO_FILES_SIZE_MB,
    ) -> None:
        self.root = Path(root)
        self.fps = fps
        self.robot_type = robot_type
        self.codec = codec
        self.options = codec_options(codec)
        self.features = {**features, **fmt.DEFAULT_FEATURES}
        self.video_keys = [k for k, f in features.items() if f["dtype"] == "video"]
        self.data_mb, self.video_mb = data_files_size_mb, video_files_size_mb
        self.stage: Path | None = None
        self.tasks: dict[str, int] = {}
        self.episodes: list[dict[str, Any]] = []  # meta rows, the previous dataset's first
        self.episode_stats: list[dict[str, stats_lib.Stats]] = []
        self._previous_stats: dict[str, stats_lib.Stats] | None = None
        self._data: tuple[pq.ParquetWriter, Path, int, int] | None = None  # writer, path, chunk, file
        self._data_next = (0, 0)
        self._videos: dict[str, tuple[VideoFileWriter, int, int]] = {}
        self._video_next: dict[str, tuple[int, int]] = dict.fromkeys(self.video_keys, (0, 0))

    # --- life cycle ------------------------------------------------------------------------------
    def __enter__(self) -> DatasetWriter:
        self.open()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def open(self) -> None:
        self.root.parent.mkdir(parents=True, exist_ok=True)
        recover(self.root)
        self.stage = self.root.parent / f".{self.root.name}.staging-{os.getpid()}"
        self.stage.mkdir()
        try:
            if self.root.exists():
                if not (self.root / fmt.INFO_PATH).exists():
                    raise DatasetError(f"{self.root} exists and is not a LeRobot dataset: choose another output folder")
                self._load_previous()
                hard_link_tree(self.root, self.stage)
        except BaseException:
            self.abort()
            raise

    def _load_previous(self) -> None:
        info = json.loads((self.root / fmt.INFO_PATH).read_text())
        if info.get("codebase_version") != fmt.CODEBASE_VERSION:
            raise DatasetError(f"{self.root} is a {info.get('codebase_version')} dataset; only v3.0 can be appended to")
        if info["fps"] != self.fps:
            raise DatasetError(f"{self.root} is at {info['fps']} fps, this conversion at {self.fps}: they cannot mix")
        theirs = {k: (v["dtype"], list(v["shape"]), v.get("names")) for k, v in info["features"].items()}
        ours = {k: (v["dtype"], list(v["shape"]), v.get("names")) for k, v in self.features.items()}
        if theirs != ours:
            diff = {
                k: {"dataset": theirs.get(k), "conversion": ours.get(k)}
                for k in sorted(set(theirs) | set(ours))
                if theirs.get(k) != ours.get(k)
            }
            raise DatasetError(f"{self.root} has other features than this conversion; differences: {diff}")
        import pandas as pd  # only here and in _write_meta: it costs 0.3 s of start-up

        tasks = pd.read_parquet(self.root / fmt.TASKS_PATH)
        self.tasks = {str(task): int(index) for task, index in zip(tasks.index, tasks["task_index"], strict=True)}
        files = sorted((self.root / "meta" / "episodes").glob("*/*.parquet"))
        self.episodes = pq.read_table(files).to_pylist() if files else []
        self._previous_stats = stats_lib.from_json(json.loads((self.root / fmt.STATS_PATH).read_text()))
        if self.episodes:
            last = self.episodes[-1]
            self._data_next = fmt.next_file(last["data/chunk_index"], last["data/file_index"])
            for key in self.video_keys:
                self._video_next[key] = fmt.next_file(
                    last[f"videos/{key}/chunk_index"], last[f"videos/{key}/file_index"]
                )

    def abort(self) -> None:
        """Forget everything of this conversion; the previous dataset stays as it was."""
        if self._data is not None:
            self._data[0].close()
        for writer, _, _ in self._videos.values():
            with contextlib.suppress(Exception):
                writer.close()
        if self.stage is not None and self.stage.exists():
            shutil.rmtree(self.stage)
        self.stage = None

    # --- episodes --------------------------------------------------------------------------------
    @property
    def total_frames(self) -> int:
        return self.episodes[-1]["dataset_to_index"] if self.episodes else 0

    def add_episode(self, episode: Episode) -> dict[str, Any]:
        if self.stage is None:
            raise DatasetError("the writer is not open")
        index = len(self.episodes)
        if set(episode.videos) != set(self.video_keys):
            raise DatasetError(f"episode {index} has cameras {sorted(episode.videos)}, the dataset {self.video_keys}")
        with ThreadPoolExecutor(max_workers=max(1, len(self.video_keys))) as pool:
            futures = {key: pool.submit(self._encode, key, episode.videos[key]) for key in self.video_keys}
            for future in futures.values():  # a failed encoder stops the reader, which would wait for it forever
                future.add_done_callback(lambda done: episode.cancel() if done.exception() is not None else None)
            try:
                task, given = episode.finish()
                video_results = {key: future.result() for key, future in futures.items()}
            except BaseException:  # the encoders must not wait for frames that will never come
                episode.cancel()
                failed = [f.exception() for f in futures.values() if f.done()]
                causes = [e for e in failed if e is not None and not isinstance(e, CancelledConversionError)]
                if causes:  # an encoder's own error: the cause, where the reader saw only that encoding stopped
                    raise causes[0] from None
                raise
        n = len(next(iter(given.values())))
        missing = set(self.features) - set(fmt.DEFAULT_FEATURES) - set(self.video_keys) - set(given)
        if n == 0 or missing:
            raise DatasetError(f"episode {index} has {n} frames and lacks features {sorted(missing)}")
        if wrong := {key: frames for key, (_, _, frames) in video_results.items() if frames != n}:
            raise DatasetError(f"episode {index} has {n} frames, but its cameras delivered {wrong}")
        start = self.total_frames
        task_index = self.tasks.setdefault(task, len(self.tasks))
        frame_index = np.arange(n, dtype=np.int64)
        columns: dict[str, np.ndarray] = {
            **{k: np.asarray(v, dtype=np.float32) for k, v in given.items()},
            "timestamp": (frame_index / self.fps).astype(np.float32),
            "frame_index": frame_index,
            "episode_index": np.full(n, index, dtype=np.int64),
            "index": start + frame_index,
            "task_index": np.full(n, task_index, dtype=np.int64),
        }
        data_meta = self._write_data(columns)
        stats = {name: stats_lib.numeric_stats(values) for name, values in columns.items()}
        row: dict[str, Any] = {"episode_index": index, "tasks": [task], "length": n, **data_meta}
        row.update({"dataset_from_index": start, "dataset_to_index": start + n})
        for key, (meta, image_stats, _) in video_results.items():
            row.update(meta)
            stats[key] = image_stats
        row.update(
            {f"stats/{feature}/{k}": np.asarray(v).tolist() for feature, s in stats.items() for k, v in s.items()}
        )
        row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})
        self.episodes.append(row)
        self.episode_stats.append(stats)
        return row

    def add_shard(self, shard: Path) -> list[dict[str, Any]]:
        """Append every episode of another dataset with the same features (a worker's shard):
        its video files move in whole under the next file indices (nothing is re-encoded), its
        rows get this dataset's episode, row and task indices. Returns the new meta rows."""
        if self.stage is None:
            raise DatasetError("the writer is not open")
        reader = DatasetReader(shard)
        ours = {k: (v["dtype"], list(v["shape"])) for k, v in self.features.items()}
        theirs = {k: (v["dtype"], list(v["shape"])) for k, v in reader.features.items()}
        if ours != theirs:
            raise DatasetError(f"shard {shard} has other features than {self.root}: they cannot be merged")
        self._close_open_files()  # the shard's files follow the ones written so far
        moved: dict[tuple[str, int, int], tuple[int, int]] = {}
        rows = []
        for position, theirs_row in enumerate(reader.episodes):
            data = reader.episode_data(position)
            n, index, start = theirs_row["length"], len(self.episodes), self.total_frames
            task = theirs_row["tasks"][0]
            frame_index = np.arange(n, dtype=np.int64)
            columns = {name: data[name] for name in data if name not in fmt.DEFAULT_FEATURES}
            columns.update({
                "timestamp": (frame_index / self.fps).astype(np.float32), "frame_index": frame_index,
                "episode_index": np.full(n, index, dtype=np.int64), "index": start + frame_index,
                "task_index": np.full(n, self.tasks.setdefault(task, len(self.tasks)), dtype=np.int64),
            })  # fmt: skip
            row = {**theirs_row, **self._write_data(columns), "episode_index": index}
            row.update({"dataset_from_index": start, "dataset_to_index": start + n})
            for key in self.video_keys:
                source = (key, theirs_row[f"videos/{key}/chunk_index"], theirs_row[f"videos/{key}/file_index"])
                if source not in moved:
                    moved[source] = self._video_next[key]
                    self._video_next[key] = fmt.next_file(*moved[source])
                    chunk, file = moved[source]
                    target = write_fresh(
                        self.stage / fmt.VIDEO_PATH.format(video_key=key, chunk_index=chunk, file_index=file)
                    )
                    shutil.copyfile(reader.video_path(theirs_row, key), target)
                row[f"videos/{key}/chunk_index"], row[f"videos/{key}/file_index"] = moved[source]
            stats: dict[str, stats_lib.Stats] = {}
            for name, value in theirs_row.items():
                if name.startswith("stats/"):
                    feature, stat = name[len("stats/") :].rsplit("/", 1)
                    stats.setdefault(feature, {})[stat] = np.asarray(value)
            for name in fmt.DEFAULT_FEATURES:  # re-indexed: their stats are this dataset's
                stats[name] = stats_lib.numeric_stats(columns[name])
                row.update({f"stats/{name}/{k}": np.asarray(v).tolist() for k, v in stats[name].items()})
            self.episodes.append(row)
            self.episode_stats.append(stats)
            rows.append(row)
        return rows

    def _write_data(self, columns: dict[str, np.ndarray]) -> dict[str, int]:
        assert self.stage is not None  # between begin() and commit()
        schema = fmt.data_schema(self.features)
        arrays = []
        for name in schema.names:
            values = columns[name]
            if pa.types.is_fixed_size_list(schema.field(name).type):
                flat = pa.array(values.reshape(-1), type=schema.field(name).type.value_type)
                arrays.append(pa.FixedSizeListArray.from_arrays(flat, values.shape[1]))
            else:
                arrays.append(pa.array(values.reshape(-1), type=schema.field(name).type))
        table = pa.Table.from_arrays(arrays, schema=schema)
        if self._data is not None and self._data[1].stat().st_size / 1e6 >= self.data_mb:
            self._data[0].close()
            self._data = None
        if self._data is None:
            chunk, file = self._data_next
            path = write_fresh(self.stage / fmt.DATA_PATH.format(chunk_index=chunk, file_index=file))
            self._data = (pq.ParquetWriter(path, schema, compression="snappy"), path, chunk, file)
            self._data_next = fmt.next_file(chunk, file)
        writer, _, chunk, file = self._data
        writer.write_table(table, row_group_size=len(table))  # one row group per episode
        return {"data/chunk_index": chunk, "data/file_index": file}

    def _encode(self, key: str, frames: Iterable[np.ndarray]) -> tuple[dict[str, Any], stats_lib.Stats, int]:
        assert self.stage is not None  # between begin() and commit()
        height, width, _ = self.features[key]["shape"]
        current = self._videos.get(key)
        if current is not None and current[0].size_mb() >= self.video_mb:
            current[0].close()
            current = None
        if current is None:
            chunk, file = self._video_next[key]
            path = write_fresh(self.stage / fmt.VIDEO_PATH.format(video_key=key, chunk_index=chunk, file_index=file))
            current = (VideoFileWriter(path, width, height, self.fps, self.codec), chunk, file)
            self._videos[key] = current
            self._video_next[key] = fmt.next_file(chunk, file)
        writer, chunk, file = current
        first = writer.frames
        image_stats = stats_lib.ImageStats()
        for frame in frames:
            writer.write(frame)
            image_stats.add(frame)
        n = writer.frames - first
        meta = {
            f"videos/{key}/chunk_index": chunk,
            f"videos/{key}/file_index": file,
            f"videos/{key}/from_timestamp": first / self.fps,
            f"videos/{key}/to_timestamp": (first + n) / self.fps,
        }
        return meta, image_stats.result(), n

    # --- commit ------------------------------------------------------------------------------------
    def commit(self) -> None:
        if self.stage is None:
            raise DatasetError("the writer is not open")
        if not self.episodes:
            self.abort()
            raise DatasetError(f"no episode to write to {self.root}: nothing was changed")
        self._close_open_files()
        self._write_meta()
        (self.stage / ".complete").touch()
        old = self.root.parent / f".{self.root.name}.previous"
        if self.root.exists():
            self.root.rename(old)
        self.stage.rename(self.root)
        (self.root / ".complete").unlink()
        if old.exists():
            shutil.rmtree(old)
        self.stage = None

    def _close_open_files(self) -> None:
        if self._data is not None:
            self._data[0].close()
            self._data = None
        with ThreadPoolExecutor(max_workers=max(1, len(self._videos))) as pool:  # encoders drain in parallel
            list(pool.map(lambda video: video[0].close(), self._videos.values()))
        self._videos = {}

    def _write_meta(self) -> None:
        assert self.stage is not None
        for stale in (self.stage / "meta" / "episodes").glob("*/*.parquet"):
            stale.unlink()
        table = pa.Table.from_pylist(self.episodes)
        pq.write_table(table, write_fresh(self.stage / fmt.EPISODES_PATH.format(chunk_index=0, file_index=0)))
        import pandas as pd

        ordered = sorted(self.tasks.items(), key=lambda item: item[1])
        tasks = pd.DataFrame(
            {"task_index": [i for _, i in ordered]}, index=pd.Index([t for t, _ in ordered], name="task")
        )
        tasks.to_parquet(write_fresh(self.stage / fmt.TASKS_PATH))
        previous = self._previous_stats or {}
        per_feature = {}
        for feature in self.episode_stats[0]:
            earlier = [previous[feature]] if feature in previous else []
            per_feature[feature] = stats_lib.aggregate(earlier + [s[feature] for s in self.episode_stats])
        write_fresh(self.stage / fmt.STATS_PATH).write_text(json.dumps(stats_lib.to_json(per_feature), indent=4))
        info = {
            "codebase_version": fmt.CODEBASE_VERSION,
            "robot_type": self.robot_type,
            "total_episodes": len(self.episodes),
            "total_frames": self.total_frames,
            "total_tasks": len(self.tasks),
            "chunks_size": fmt.CHUNKS_SIZE,
            "data_files_size_in_mb": self.data_mb,
            "video_files_size_in_mb": self.video_mb,
            "fps": self.fps,
            "splits": {"train": f"0:{len(self.episodes)}"},
            "data_path": fmt.DATA_PATH,
            "video_path": fmt.VIDEO_PATH if self.video_keys else None,
            "features": self.features,
        }
        write_fresh(self.stage / fmt.INFO_PATH).write_text(json.dumps(info, indent=4))
