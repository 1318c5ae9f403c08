"""Each Python package declares what it imports, once for rosdep (package.xml) and once for pip
(setup.py install_requires), and nothing it does not use."""

import ast
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lerobot_drivers", "lerobot_recorder", "lerobot_policy", "lerobot_bringup")
OWN = {"lerobot_msgs", *PACKAGES}
# rosdep keys of ros/rosdistro's rosdep/python.yaml (and dynamixel_sdk, urdfdom_py: released ROS packages);
# the other distributions have none and come from pip only
ROSDEP_KEYS = {
    "numpy": "python3-numpy", "PyYAML": "python3-yaml", "opencv-python-headless": "python3-opencv",
    "pandas": "python3-pandas", "tqdm": "python3-tqdm", "matplotlib": "python3-matplotlib",
    "packaging": "python3-packaging", "transformers": "python3-transformers-pip",
    "dynamixel-sdk": "dynamixel_sdk", "urdfdom_py": "urdfdom_py",
}  # fmt: skip
# distributions used without an import
PIP_RUNTIME_ONLY: dict[str, set[str]] = {}
# ROS packages on no registry here (a native install has them)
ROS_ONLY = {"launch", "launch_ros"}
# used at run time without an import: the recorder records the profiles' topics by type name;
# the bringup starts the other packages' executables and, under ros2 launch, robot_state_publisher, rviz2
RUNTIME_ONLY = {
    "lerobot_recorder": {"sensor_msgs", "std_msgs"},
    "lerobot_bringup": {"lerobot_recorder", "lerobot_policy", "robot_state_publisher", "rviz2"},
}


def imported_modules(package: str) -> set[str]:
    found = set()
    for path in (ROOT / "src" / package / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {package}


def install_requires(package: str) -> set[str]:
    tree = ast.parse((ROOT / "src" / package / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "install_requires":
            return set(ast.literal_eval(node.value)) - {"setuptools"}
    raise AssertionError(f"{package}/setup.py has no install_requires")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_import_is_declared_for_rosdep_and_pip(package):
    distributions = packages_distributions()
    ros, pip = set(), set()
    for module in imported_modules(package):
        names = distributions.get(module, [])
        if module in OWN | ROS_ONLY or any(name.startswith("ros-") for name in names):
            ros.add(module)  # a ROS package: its rosdep key is its name
        else:
            assert names, f"{package} imports {module}, which no installed distribution provides"
            pip.add(names[0])
    keys = {ROSDEP_KEYS[name] for name in pip if name in ROSDEP_KEYS}
    root = ET.parse(ROOT / "src" / package / "package.xml").getroot()
    declared = {element.text for element in root.iter("exec_depend")}
    assert declared == ros | RUNTIME_ONLY.get(package, set()) | keys, "package.xml exec_depend"
    assert install_requires(package) - OWN == pip | PIP_RUNTIME_ONLY.get(package, set()), "setup.py install_requires"
