"""`lerobot_bag_to_dataset`: convert ROS 2 bags into a LeRobotDataset v3 (new, or appended to).

lerobot_bag_to_dataset --profile config/so101_follower.yaml --out datasets/pick bags/ep_000 bags/ep_001
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from lerobot_drivers.errors import ProfileError
from lerobot_drivers.profile import load_profile
from lerobot_recorder.convert import Progress, convert
from lerobot_recorder.errors import RecorderError
from lerobot_recorder.spec import DatasetSpec
from lerobot_recorder.video import CODECS


class CountingProgress(Progress):
    """Counts the frames encoded, for the progress shown and for what Ctrl-C reports."""

    def __init__(self) -> None:
        self.receive_stamps = False  # streams aligned by receive time: their latency matters
        self.encoded = 0  # frames of the current episode
        self.planned = 0
        self.at_signal: int | None = None

    def episode_started(self, bag: Path, frames: int) -> None:
        self.encoded, self.planned = 0, frames

    def frames_done(self, count: int) -> None:
        self.encoded += count

    def episode_line(self, report: dict[str, Any]) -> str:
        worst = max(report["streams"].items(), key=lambda item: item[1]["worst_staleness_s"])
        filled = sum(q["filled_frames"] for q in report["streams"].values())
        cut = report["cut_after"]
        ending = f", CUT at {cut['at_s']:.3f} s ({cut['stale']} stale for {cut['frames']} frames)" if cut else ""
        head = (
            f"episode {report['episode_index']} converted: {report['frames']} frames, {filled} filled from a "
            f"neighbouring frame, worst staleness {worst[1]['worst_staleness_s'] * 1e3:.1f} ms ({worst[0]}){ending}, "
            f"task {report['task']!r}, from {report['episodes_from']} (written once every bag is converted)"
        )
        return "\n".join([head, *stream_table(report, self.receive_stamps)])

    def close(self) -> None:
        """Nothing to tidy up: lines are complete when printed."""


class BarProgress(CountingProgress):
    """Progress bars, for a terminal."""

    def __init__(self, bags: int) -> None:
        super().__init__()
        self.bags = tqdm(total=bags, desc="bags", unit="bag", position=0)
        self.frames: tqdm | None = None
        self._last_bag: Path | None = None

    def episode_started(self, bag: Path, frames: int) -> None:
        super().episode_started(bag, frames)
        if self._last_bag is not None and bag != self._last_bag:
            self.bags.update(1)
        self._last_bag = bag
        self.frames = tqdm(total=frames, desc=f"episode from {bag.name}", unit="frame", position=1, leave=False)

    def frames_done(self, count: int) -> None:
        super().frames_done(count)
        if self.frames is not None:
            self.frames.update(count)

    def episode_done(self, report: dict[str, Any]) -> None:
        if self.frames is not None:
            self.frames.close()
        tqdm.write(self.episode_line(report))

    def close(self) -> None:
        self.bags.update((self.bags.total or 0) - self.bags.n)  # total: the bag count it was made with
        self.bags.close()


class LineProgress(CountingProgress):
    """Whole lines, for a log file or a pipe: no carriage returns, no escape codes."""

    def episode_started(self, bag: Path, frames: int) -> None:
        super().episode_started(bag, frames)
        print(f"converting an episode from {bag} (about {frames} frames)", flush=True)

    def episode_done(self, report: dict[str, Any]) -> None:
        print(self.episode_line(report), flush=True)


def stream_table(report: dict[str, Any], receive_stamps: bool) -> list[str]:
    """One line per stream: rate, drops, stamp jitter, header-to-receive latency, filled frames;
    and a hint where receive stamps lag the header by more than a few milliseconds."""
    lines = []
    for name, q in report["streams"].items():
        missing = sum(count for _, count in q["drops"])
        latency = (
            f"latency {q['latency_mean_ms']:.1f}/{q['latency_p99_ms']:.1f} ms"
            if q["latency_mean_ms"] is not None
            else "latency n/a (no header stamps)"
        )
        lines.append(
            f"  {name:32s} {q['rate_hz']:6.1f} Hz, {missing} missing in {len(q['drops'])} drop(s), "
            f"jitter p50/p99 {q['jitter_p50_ms']:.1f}/{q['jitter_p99_ms']:.1f} ms, {latency} (mean/p99), "
            f"{q['filled_frames']} filled"
        )
        if receive_stamps and (q["latency_mean_ms"] or 0) > 5:
            fix = (
                f"set the camera's latency_s to {q['latency_mean_ms'] / 1e3:.3f}, or use stamps: header"
                if name.startswith("observation.images.")
                else "use stamps: header in the profile's dataset section"
            )
            lines.append(
                f"  hint: {name} arrives {q['latency_mean_ms']:.0f} ms after its header stamp and is aligned by "
                f"receive time, so it is placed that late: {fix}"
            )
    return lines


def interrupt_on_signal(progress: CountingProgress) -> None:
    """Ctrl-C or SIGTERM stop the conversion; how far the encoders were is kept, so that the
    message can say whether they stopped at once."""

    def interrupt(signum: int, frame: object) -> None:
        if progress.at_signal is None:
            progress.at_signal = progress.encoded
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Convert ROS 2 bags (mcap, sqlite3) into a LeRobotDataset v3.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "bags", nargs="+", type=Path, help="bag folders (or a file inside one); one episode each by default"
    )
    parser.add_argument("--profile", required=True, help="robot profile YAML: joints, cameras and the dataset mapping")
    parser.add_argument("--out", required=True, type=Path, help="dataset folder: created, or appended to")
    parser.add_argument("--task", help="the language instruction, when the bags carry none")
    parser.add_argument(
        "--namespace",
        default="/",
        help="the namespace the robot's nodes ran in: the profile's relative topics resolve in it",
    )
    parser.add_argument(
        "--segment",
        choices=["events", "gap", "bag"],
        help="episodes from the bag's episode events (used when it has them), from pauses and task changes "
        "(used otherwise), or the whole bag as one episode (only when asked for)",
    )
    parser.add_argument("--gap-s", type=float, default=1.0, help="a pause of the joint states longer than this splits")
    parser.add_argument(
        "--on-stale",
        choices=["cut", "fail"],
        default="cut",
        help="a stream with nothing acceptable for a frame (beyond its max_age_s or fill bound): cut the episode "
        "there into two, or fail the conversion",
    )
    parser.add_argument("--codec", choices=sorted(CODECS), default="libsvtav1")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="bags converted at once, each in its own process into a shard, the shards then merged in order",
    )
    parser.add_argument(
        "--salvage",
        action="store_true",
        help="convert a cut-off mcap bag (a killed recorder, a full disk) up to the cut; its report says so",
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="convert the bags that can be read, list the others, and exit with code 2",
    )
    args = parser.parse_args(argv)
    progress = BarProgress(len(args.bags)) if sys.stdout.isatty() else LineProgress()
    interrupt_on_signal(progress)
    try:
        spec = DatasetSpec.from_profile(load_profile(args.profile), namespace=args.namespace)
        progress.receive_stamps = spec.stamps == "receive"
        try:
            options = {"task": args.task, "segmentation": args.segment, "gap_s": args.gap_s, "on_stale": args.on_stale}
            skipped: list[tuple[Path, str]] | None = [] if args.skip_bad else None
            reports = convert(
                args.bags,
                spec,
                args.out,
                codec=args.codec,
                progress=progress,
                skipped=skipped,
                salvage=args.salvage,
                workers=args.workers,
                **options,
            )
        finally:
            progress.close()
    except (RecorderError, ProfileError) as exc:
        print(f"conversion failed, nothing was written: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"interrupted: nothing was written to {args.out} (the encoders had {progress.at_signal} frames of the "
            f"episode when the signal came and stopped at {progress.encoded}, of about {progress.planned})",
            file=sys.stderr,
        )
        return 130
    frames = sum(r["frames"] for r in reports)
    print(
        f"{len(reports)} episode(s), {frames} frames written to {args.out}; quality reports in {args.out}/meta/quality/"
    )
    for bag, why in skipped or ():
        print(f"skipped {bag}: {why}", file=sys.stderr)
    if skipped:
        print(f"{len(skipped)} bag(s) skipped, not converted (exit code 2)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
