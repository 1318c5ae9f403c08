"""The suite end to end on this machine, saying plainly what ran.

Today the end-to-end path is the suite's interfaces across processes over DDS: the same
checks as tests/msgs/test_transport.py, run through the test harness on an isolated domain.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    print("lerobot-ros main job: real ROS 2 nodes in separate processes on an isolated DDS domain")
    print("  1. a node publishes a 50x7 timed ActionChunk; another process receives it bit for bit")
    print("  2. episode services (start with task / stop keep or discard) called across processes,")
    print("     with the EpisodeEvent stream checked")
    started = time.monotonic()
    code = pytest.main(
        [
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(ROOT),
            str(ROOT / "tests" / "msgs" / "test_transport.py"),
        ]
    )
    took = time.monotonic() - started
    verdict = "passed" if code == 0 else f"FAILED (pytest exit {code})"
    print(f"main job {verdict} in {took:.1f} s")
    print("not yet part of the main job: servo drivers on the simulated bus, recording, conversion, the VLA")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
