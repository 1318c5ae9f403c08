"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ros_harness import RosProbe, RosTestbed, reserved_domain_id

NODES = Path(__file__).parent / "nodes"


MARKERS = (  # registered here, not in pyproject.toml: `colcon test` runs these tests with a package's setup.cfg
    "slow: takes more than a few seconds (video, training, benchmarks-as-tests)",
    "ros: starts real rclpy nodes in separate processes (isolated DDS domain)",
)


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    # MuJoCo picks its GL backend once, when first imported (some test modules import it): EGL
    # renders without a display, as the scene cameras do in their own processes.
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("MUJOCO_GL", "egl")
    # rclpy in the test process itself (the probe) must be as isolated as the node processes.
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="lerobot_test_roslog_"))
    os.environ.setdefault("ROS_HOME", os.environ["ROS_LOG_DIR"])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if {"ros_testbed", "ros_probe"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.ros)


@pytest.fixture
def ros_testbed(tmp_path: Path) -> Iterator[RosTestbed]:
    """Node processes on a domain of their own; all stopped (and checked gone) afterwards."""
    with reserved_domain_id() as domain_id:
        testbed = RosTestbed(domain_id, tmp_path)
        try:
            yield testbed
        finally:
            testbed.stop_all()


@pytest.fixture
def ros_probe(ros_testbed: RosTestbed) -> Iterator[RosProbe]:
    """An rclpy node in the test process, on the testbed's domain."""
    probe = RosProbe(ros_testbed.domain_id)
    try:
        yield probe
    finally:
        probe.close()
