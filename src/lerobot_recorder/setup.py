"""ament_python metadata.

colcon installs the executables to lib/<package> for `ros2 run`; pip puts them on PATH.
"""

from setuptools import find_packages, setup

PACKAGE = "lerobot_recorder"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={PACKAGE: ["py.typed"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=[
        "setuptools",
        "numpy",
        "PyYAML",
        "pandas",
        "tqdm",
        "rosbags",
        "mcap",
        "pyarrow",
        "av",
    ],
    extras_require={"test": ["pytest"]},  # `colcon test` runs pytest
    zip_safe=False,
    description=(
        "ROS 2 bags (mcap, sqlite3) to LeRobotDataset v3, a dataset reader and validator, and a live episode recorder."
    ),
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "lerobot_bag_to_dataset = lerobot_recorder.cli:main",
            "lerobot_dataset_validate = lerobot_recorder.validate:main",
            "lerobot_recorder = lerobot_recorder.nodes.recorder_node:main",
            "lerobot_dataset_replay = lerobot_recorder.replay:main",
        ]
    },
)
