"""Point the ROS wheels' exported CMake files at this interpreter's include folders.

The `ros-*` wheels were built in a manylinux image; their exported CMake targets name
that image's Python and numpy include folders, which do not exist here, and configuring
any interface package against them fails. Safe to run any number of times.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

# /opt/python/cp311-cp311/include/python3.11 and .../site-packages/numpy/_core/include
PYTHON_INCLUDE = re.compile(r"/opt/python/cp3\d+-cp3\d+t?/include/python3\.\d+t?")
NUMPY_INCLUDE = re.compile(r"/opt/python/cp3\d+-cp3\d+t?/lib/python3\.\d+t?/site-packages/numpy/(?:_core|core)/include")


def fix(prefix: Path) -> int:
    """Rewrite the paths in every CMake file under `prefix/share`; return files changed."""
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    changed = 0
    for path in (prefix / "share").rglob("*.cmake"):
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        fixed = NUMPY_INCLUDE.sub(numpy_include, text)
        fixed = PYTHON_INCLUDE.sub(python_include, fixed)
        if fixed != text:
            path.write_text(fixed, encoding="utf-8", errors="surrogateescape")
            changed += 1
    return changed


if __name__ == "__main__":
    venv = Path(sys.argv[1] if len(sys.argv) > 1 else sys.prefix)
    print(f"[setup] fixed include paths in {fix(venv)} CMake file(s) of the ROS wheels")
