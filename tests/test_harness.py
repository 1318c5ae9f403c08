"""The harness itself: isolation and teardown."""

import sys

from ros_harness import RosTestbed, isolated_ros_env, live_group_members, reserved_domain_id


def test_domain_ids_are_exclusive():
    with reserved_domain_id() as first, reserved_domain_id() as second:
        assert first != second


def test_env_isolates_discovery_and_logs(tmp_path):
    env = isolated_ros_env(17, tmp_path)
    assert env["ROS_DOMAIN_ID"] == "17"
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert env["ROS_LOG_DIR"] == str(tmp_path)


def test_stop_leaves_no_orphans(tmp_path):
    testbed = RosTestbed(domain_id=99, tmp_path=tmp_path)
    # a parent that spawns a child which ignores SIGINT: both must be gone after stop_all
    spawner = (
        "import signal, subprocess, sys, time;"
        "child = subprocess.Popen([sys.executable, '-c',"
        " 'import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)']);"
        "print(child.pid, flush=True); time.sleep(600)"
    )
    process = testbed.start("spawner", [sys.executable, "-c", spawner])
    child_pid = int(process.wait_for_output(r"(\d+)\n").group(1))
    testbed.stop_all()
    assert not process.group_alive()
    assert child_pid not in live_group_members(process.popen.pid), "the grandchild survived teardown"
