"""ROS domain ids that no other run on this machine holds meanwhile.

The main job, the benchmarks and every test reserve their id the same way, a lock file per id,
so two of them running at once never hear each other's topics. A random id was not enough: a
test's 160x120 camera frames once landed in a benchmark's bags, both having drawn the same id.
"""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

DOMAIN_IDS = range(1, 102)  # clear of the ephemeral port range on Linux
LOCK_DIR = Path(tempfile.gettempdir()) / "lerobot_ros_domains"


def reserve_domain_id(start: int = 0) -> tuple[int, IO[str]]:
    """The first free id from `start` on (wrapping), and its lock: the id is held until the
    lock is closed or this process ends."""
    LOCK_DIR.mkdir(exist_ok=True)
    for offset in range(len(DOMAIN_IDS)):
        domain_id = DOMAIN_IDS[(start + offset) % len(DOMAIN_IDS)]
        handle = (LOCK_DIR / f"{domain_id}.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return domain_id, handle
    raise RuntimeError(
        f"all ROS domain ids {DOMAIN_IDS.start}-{DOMAIN_IDS.stop - 1} are held by other runs on this machine: "
        f"stop some, or remove stale locks in {LOCK_DIR} if no run is left"
    )


@contextmanager
def reserved_domain_id(start: int = 0) -> Iterator[int]:
    """A domain id held for the `with` block."""
    domain_id, handle = reserve_domain_id(start)
    try:
        yield domain_id
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
