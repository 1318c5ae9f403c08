"""Bag -> LeRobotDataset conversion against its floor: encoding the same frames alone.

A synthetic bag with two 640x480 cameras at 30 fps (one jpeg CompressedImage, one raw rgb8
Image) is converted by the real command in a child process (wall time and that child's
peak memory). The floor, measured in the same run: the same frames, already decoded in
memory, encoded with the same codec and settings, one thread per camera as the converter.
Before each timed conversion the bag is read once (not timed), so that both sides start from
memory: the floor's frames are decoded beforehand, and this machine's page cache drops parts
of a 1.7 GB file between runs, which made conversions read from disk at random.
A 20 s and a 60 s bag show whether memory grows with episode length (the lower peak of
several runs of each: a run's peak also depends on how full the queues were when the
machine stalled). A row for --workers: 8 one-camera bags, 2 workers against 1.
Last line: conversion wall time / encode-only wall time, best against best and the median of
the runs' ratios (target <= 1.2).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from lerobot_drivers.profile import load_profile
from lerobot_recorder.bag import Bag
from lerobot_recorder.content import decode_image, read_bag
from lerobot_recorder.spec import DatasetSpec
from lerobot_recorder.synthetic import SyntheticArm, write_bag
from lerobot_recorder.video import VideoFileWriter

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "config" / "so101_follower_sim.yaml"
ARM = SyntheticArm(
    width=640,
    height=480,
    cameras={"front": ("/front/image_raw/compressed", True), "wrist": ("/wrist/image_raw", False)},
    compressed_format="jpeg",
)


def convert_in_child(bag: Path, out: Path) -> tuple[float, float]:
    """Wall seconds and peak anonymous memory (MB, polled from /proc: the process's own memory,
    not the page cache of the bag it reads) of the real command converting `bag`."""
    for path in bag.iterdir():  # into the page cache, not timed
        with path.open("rb") as stream:
            while stream.read(1 << 24):
                pass
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "lerobot_recorder.cli", "--profile", str(PROFILE), "--out", str(out), str(bag)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    peak = 0
    status = Path(f"/proc/{child.pid}/status")
    while child.poll() is None:
        try:
            rss = next(line for line in status.read_text().splitlines() if line.startswith("RssAnon"))
            peak = max(peak, int(rss.split()[1]))
        except (OSError, StopIteration):
            pass
        time.sleep(0.05)
    took = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"conversion failed: {child.stderr.read().decode()[-2000:]}")
    return took, peak / 1024


def convert_bags(bags: list[Path], out: Path, profile: Path, workers: int) -> float:
    """Wall seconds of the real command converting `bags` into one dataset with `workers`."""
    for bag in bags:
        for path in bag.iterdir():  # into the page cache, not timed
            path.read_bytes()
    started = time.perf_counter()
    command = [sys.executable, "-m", "lerobot_recorder.cli", "--profile", str(profile), "--out", str(out)]
    done = subprocess.run([*command, "--workers", str(workers), *map(str, bags)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"conversion failed: {done.stderr[-2000:]}")
    return time.perf_counter() - started


def workers_row(work: Path, bags: int = 8, seconds: int = 8) -> None:
    """8 one-camera bags (one encoder thread each: one worker leaves a core idle), converted
    with --workers 2 against --workers 1, alternated, best of 2 each."""
    one_camera = replace(ARM, cameras={"front": ARM.cameras["front"]})
    folder = work / "workers"
    paths = [write_bag(folder / f"bag{i}", one_camera, [(0, seconds, "pick the cube")], events=False, seed=i)
             for i in range(bags)]  # fmt: skip
    text = PROFILE.read_text().replace("calibration: calibration/", f"calibration: {PROFILE.parent}/calibration/")
    profile = folder / "one_camera.yaml"
    profile.write_text("\n".join(line for line in text.splitlines() if "/wrist/image_raw" not in line))
    times: dict[int, list[float]] = {1: [], 2: []}
    for attempt in range(2):
        for workers in (1, 2):
            times[workers].append(convert_bags(paths, folder / f"ds_{workers}_{attempt}", profile, workers))
    best_one, best_two = min(times[1]), min(times[2])
    print(
        f"{bags} one-camera {seconds} s bags into one dataset: --workers 1 {best_one:.1f} s, --workers 2 "
        f"{best_two:.1f} s (best of 2): throughput x{best_one / best_two:.2f} (target >= 1.6)"
    )


def encode_only(bag: Path, out: Path, fps: int) -> tuple[float, int]:
    """The floor: the frames the conversion encodes, decoded beforehand, encoded alone."""
    spec = DatasetSpec.from_profile(load_profile(PROFILE))
    content = read_bag(bag, spec)
    frames = {}
    with Bag([bag]) as reader:
        for key, camera in content.cameras.items():
            frames[key] = [
                decode_image(reader, camera.topic, camera.msgtype, m.data, m.log_time_ns)
                for m in reader.messages([camera.topic], deserialize=False)
            ]

    def encode(key: str) -> None:
        height, width, _ = frames[key][0].shape
        writer = VideoFileWriter(out / f"{key}.mp4", width, height, fps)
        for frame in frames[key]:
            writer.write(frame)
        writer.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(frames)) as pool:
        list(pool.map(encode, frames))
    return time.perf_counter() - started, sum(len(v) for v in frames.values())


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench_recorder_") as scratch:
        work = Path(scratch)
        bags = {}
        for seconds in (20, 60):
            started = time.perf_counter()
            bags[seconds] = write_bag(
                work / f"bag_{seconds}s", replace(ARM), [(0, seconds, "pick the cube")], events=False
            )
            size = sum(p.stat().st_size for p in bags[seconds].iterdir()) / 1e6
            print(f"bag {seconds} s: {size:.0f} MB written in {time.perf_counter() - started:.1f} s (not timed)")
        os.sync()  # the bags' dirty pages are written back now, not during the timed runs
        short_rss = min(convert_in_child(bags[20], work / f"ds_20_{attempt}")[1] for attempt in range(2))
        print(f"convert 20 s bag: peak memory {short_rss:.0f} MB (lower of 2 runs)")
        (work / "floor").mkdir()
        runs = []
        for attempt in range(3):  # alternate, keep the best of each: the machine is shared
            long_time, long_rss = convert_in_child(bags[60], work / f"ds_60_{attempt}")
            floor, frames = encode_only(bags[60], work / "floor", ARM_FPS)
            print(f"run {attempt + 1}: convert 60 s bag {long_time:.1f} s wall (peak memory {long_rss:.0f} MB); "
                  f"encode only, same {frames} frames: {floor:.1f} s")  # fmt: skip
            runs.append((long_time, floor, long_rss))
        long_time, floor, long_rss = min(r[0] for r in runs), min(r[1] for r in runs), min(r[2] for r in runs)
        print(
            f"best: convert {long_time:.1f} s; encode only {floor:.1f} s "
            "(libsvtav1 g=2 crf=30 preset 12, one thread per camera)"
        )
        print(f"memory 60 s / 20 s: {long_rss / short_rss:.2f} (1.0 = does not grow with episode length)")
        workers_row(work)
        ratios = sorted(convert / encode for convert, encode, _ in runs)
        print(f"conversion / encode-only: best {long_time / floor:.2f}, median of runs {statistics.median(ratios):.2f}")


ARM_FPS = 30

if __name__ == "__main__":
    main()
