"""Register the suite's editable Python packages in the venv's ament index, as colcon would.

`ros2 run <package> <executable>` and launch_ros's `Node(package=..., executable=...)` look a
package up in `<prefix>/share/ament_index/resource_index/packages/<package>` and run
`<prefix>/lib/<package>/<executable>`; a pip install writes neither. This writes the index
entry, `share/<package>/package.xml`, links `share/<package>/launch` and `config` to the
package's folders, and one link per console script in `lib/<package>/` to the script pip put
in `bin/`. Usage: ament_index.py PREFIX PACKAGE_DIR...
"""

from __future__ import annotations

import shutil
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import distribution
from pathlib import Path


def register(prefix: Path, package_dir: Path) -> list[str]:
    """Index one package; returns the executables linked."""
    name = ET.parse(package_dir / "package.xml").getroot().findtext("name")
    index = prefix / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True, exist_ok=True)
    (index / name).touch()
    share = prefix / "share" / name
    share.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(package_dir / "package.xml", share / "package.xml")
    for folder in ("launch", "config"):  # what colcon installs from data_files
        if (package_dir / folder).is_dir():
            (share / folder).unlink(missing_ok=True)
            (share / folder).symlink_to((package_dir / folder).resolve(), target_is_directory=True)
    lib = prefix / "lib" / name
    lib.mkdir(parents=True, exist_ok=True)
    scripts = sorted(ep.name for ep in distribution(name).entry_points if ep.group == "console_scripts")
    for script in scripts:
        link = lib / script
        link.unlink(missing_ok=True)
        link.symlink_to(prefix / "bin" / script)
    return scripts


def main(argv: list[str]) -> int:
    prefix = Path(argv[0]).resolve()
    for package_dir in argv[1:]:
        scripts = register(prefix, Path(package_dir))
        print(f"[setup] ament index: {Path(package_dir).name} ({', '.join(scripts)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
