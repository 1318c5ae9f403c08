"""Real ROS 2 processes for tests: isolated domains, node processes, and a probe node.

Every test gets its own DDS domain (reserved with a file lock, so concurrent test runs on
one machine never share one), discovery limited to this host, and ROS logs in its temp
folder. Nodes run as separate processes in their own process group, so teardown can stop
them and everything they spawned.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from lerobot_bringup import domains

# each test of a process starts its search one id further: the participants of the test before
# (a probe just closed) can linger in discovery for a while, and a publisher waiting for its
# first subscriber would take that ghost for the test's own
_TESTS_SO_FAR = itertools.count()


@contextmanager
def reserved_domain_id() -> Iterator[int]:
    """Hold a domain id that no other test, main job or benchmark on this machine uses meanwhile."""
    with domains.reserved_domain_id(os.getpid() + next(_TESTS_SO_FAR)) as domain_id:
        yield domain_id


def isolated_ros_env(domain_id: int, log_dir: Path) -> dict[str, str]:
    """The environment every process of one test runs with."""
    env = dict(os.environ)
    env.update(
        ROS_DOMAIN_ID=str(domain_id),
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        ROS_LOG_DIR=str(log_dir),
        ROS_HOME=str(log_dir),
        RCUTILS_LOGGING_BUFFERED_STREAM="0",
        PYTHONUNBUFFERED="1",
    )
    env.pop("ROS_STATIC_PEERS", None)
    return env


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


class NodeProcess:
    """One node (or any command) in its own process group, output captured to a file."""

    def __init__(self, name: str, args: Sequence[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = list(args)
        self.log_path = log_dir / f"{name}.out"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            self.args,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def wait_for_output(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """Wait for a line matching `pattern`; fail early if the process dies."""

        def seen() -> re.Match[str] | None:
            match = re.search(pattern, self.output)
            if match is None and self.popen.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.popen.returncode} before printing "
                    f"/{pattern}/; its output:\n{self.output}"
                )
            return match

        try:
            return wait_until(seen, timeout, f"/{pattern}/ in the output of {self.name}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; its output so far:\n{self.output}") from None

    def wait(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still runs after {timeout:.1f} s; its output:\n{self.output}") from None

    def stop(self, timeout: float = 10.0) -> int:
        """SIGINT (as Ctrl-C), then SIGTERM, then SIGKILL, to the whole process group."""
        for sig, grace in ((signal.SIGINT, timeout), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if self.popen.poll() is not None:
                break
            self._signal_group(sig)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                continue
        self._signal_group(signal.SIGKILL)  # whatever it spawned and left behind
        self._log.close()
        return self.popen.returncode

    def _signal_group(self, sig: int) -> None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def group_alive(self, grace: float = 2.0) -> bool:
        """Whether any live (non-zombie) process of this group remains after `grace` s."""
        deadline = time.monotonic() + grace
        while live_group_members(self.popen.pid):
            if time.monotonic() > deadline:
                return True
            time.sleep(0.02)
        return False


def live_group_members(pgid: int) -> list[int]:
    """Pids in process group `pgid` that are not zombies (killed orphans wait for init)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


class RosTestbed:
    """The processes of one test and the environment they share."""

    def __init__(self, domain_id: int, tmp_path: Path) -> None:
        self.domain_id = domain_id
        self.tmp_path = tmp_path
        self.log_dir = tmp_path / "ros_logs"
        self.log_dir.mkdir(exist_ok=True)
        self.env = isolated_ros_env(domain_id, self.log_dir)
        self.processes: list[NodeProcess] = []

    def start(self, name: str, args: Sequence[str], extra_env: dict[str, str] | None = None) -> NodeProcess:
        env = {**self.env, **(extra_env or {})}
        process = NodeProcess(name, args, env, self.log_dir)
        self.processes.append(process)
        return process

    def start_python(self, name: str, module_or_script: str, *args: str) -> NodeProcess:
        """Run a module (`pkg.mod`) or a script path with this venv's interpreter."""
        target = ["-m", module_or_script] if not module_or_script.endswith(".py") else [module_or_script]
        return self.start(name, [sys.executable, *target, *args])

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        leftovers = [p.name for p in self.processes if p.group_alive()]
        if leftovers:
            raise AssertionError(f"processes left behind after teardown: {leftovers}")


class RosProbe:
    """An rclpy node inside the test process, spinning in a background thread."""

    def __init__(self, domain_id: int, name: str = "test_probe") -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self._rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except ExternalShutdownException:
            pass
        except Exception:
            if self.context.ok():
                raise  # a test's callback failed: let pytest report it
            # close() ended the context under a running callback (a publisher being destroyed)

    def collect(self, msg_type: type, topic: str, qos: Any = 10) -> MessageLog:
        log = MessageLog(topic)
        self.node.create_subscription(msg_type, topic, log.append, qos)
        return log

    def wait_for_publishers(self, topic: str, count: int = 1, timeout: float = 20.0) -> None:
        wait_until(lambda: self.node.count_publishers(topic) >= count, timeout, f"a publisher on {topic}")

    def wait_for_subscribers(self, topic: str, count: int = 1, timeout: float = 20.0) -> None:
        wait_until(lambda: self.node.count_subscribers(topic) >= count, timeout, f"a subscriber on {topic}")

    def wait_for_subscription_of(self, node_name: str, topic: str, timeout: float = 20.0) -> None:
        """Until the graph, as the probe sees it, shows `node_name` subscribed to `topic`."""

        def subscribed() -> bool:
            return any(info.node_name == node_name for info in self.node.get_subscriptions_info_by_topic(topic))

        wait_until(subscribed, timeout, f"{node_name} subscribed to {topic}")

    def call(self, srv_type: type, name: str, request: Any, timeout: float = 20.0) -> Any:
        client = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise TimeoutError(f"service {name} did not appear within {timeout:.1f} s")
            future = client.call_async(request)
            done = threading.Event()
            future.add_done_callback(lambda _: done.set())
            if not done.wait(timeout):
                raise TimeoutError(f"service {name} did not answer within {timeout:.1f} s")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        self._rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5)
        self.executor.shutdown()
        self.node.destroy_node()


class MessageLog:
    """Messages received on one topic, with a wait helper."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.messages: list[Any] = []
        self._lock = threading.Lock()

    def append(self, msg: Any) -> None:
        with self._lock:
            self.messages.append(msg)

    def snapshot(self) -> list[Any]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, count: int = 1, timeout: float = 20.0, where: Callable[[Any], bool] | None = None) -> list[Any]:
        def matching() -> list[Any]:
            found = [m for m in self.snapshot() if where is None or where(m)]
            return found if len(found) >= count else []

        return wait_until(matching, timeout, f"{count} message(s) on {self.topic}")

    def wait_for_more(self, count: int, timeout: float = 20.0) -> list[Any]:
        """Until `count` messages beyond those received so far: a window counted, not timed."""
        return self.wait_for(len(self.snapshot()) + count, timeout)


def start_bringup(testbed: RosTestbed, scenario: str, *assignments: str) -> NodeProcess:
    """`lerobot_bringup <scenario> name:=value ...`, as a user types it."""
    return testbed.start_python(f"bringup_{scenario}", "lerobot_bringup.cli", scenario, *assignments)


def interrupt(process: NodeProcess, times: int = 1) -> int:
    """Ctrl-C in the terminal of `process` (its children run in sessions of their own); its exit code."""
    for _ in range(times):
        process.popen.send_signal(signal.SIGINT)
        time.sleep(0.005)
    return process.wait(40)


def final_torques(output: str) -> list[dict[str, int]]:
    """What each simulated bus printed as it exited: servo id -> torque enable."""
    import json

    return [json.loads(line) for line in re.findall(r"final torque: (\{.*\})", output)]
