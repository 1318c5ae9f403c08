"""ament_python metadata.

colcon installs the launch files and profiles to share/lerobot_bringup, for
`ros2 launch lerobot_bringup <scenario>.launch.py`; `lerobot_bringup` goes to lib/ (colcon)
or PATH (pip).
"""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "lerobot_bringup"


def files(pattern: str) -> list[str]:
    """Through the package's links to the top-level launch/ and config/ folders."""
    return sorted(str(path) for path in Path().glob(pattern))


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={PACKAGE: ["py.typed"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", files("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", files("config/*.yaml") + files("config/*.rviz")),
        (f"share/{PACKAGE}/config/calibration", files("config/calibration/*")),
    ],
    install_requires=[
        "setuptools",
        "numpy",
        "PyYAML",
        "rerun-sdk",
        "lerobot_drivers",
        "lerobot_recorder",
        "lerobot_policy",
    ],
    extras_require={"test": ["pytest"]},  # `colcon test` runs pytest
    zip_safe=False,
    description="The suite's scenarios as installed launch files and as the lerobot_bringup command.",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "lerobot_bringup = lerobot_bringup.cli:main",
            "lerobot_view = lerobot_bringup.view_cli:main",
        ]
    },
)
