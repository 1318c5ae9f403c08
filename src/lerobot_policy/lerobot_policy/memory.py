"""Keeping freed memory in the process, for training and sampling on CPUs.

glibc hands large freed blocks back to the kernel (mmap'd above M_MMAP_THRESHOLD, heap tops
trimmed above M_TRIM_THRESHOLD), so every training step faults its activations in again,
page by page: on this project's benchmark model that was a third of a CPU step, and more
for the fused step, which holds more activations. Raising both thresholds keeps the blocks
for reuse: resident memory stays at the peak of one step instead.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEEP_BYTES = 1 << 30


def keep_freed_memory() -> bool:
    """True when glibc took the settings; False elsewhere (macOS, musl), where nothing changes."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_BYTES))
