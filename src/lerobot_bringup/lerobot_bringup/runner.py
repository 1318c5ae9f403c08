"""Start a scenario's processes without launch: readiness, prefixed output, an orderly stop.

Each process runs in a session of its own, so the terminal's Ctrl-C reaches only this runner,
which forwards one SIGINT to each process: first to those nothing waits for (drivers), and to
a simulator only once the drivers on it have exited and turned torque off.
"""

from __future__ import annotations

import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from lerobot_bringup.errors import BringupError
from lerobot_bringup.scenario import Process, ReadinessGate

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0  # after SIGINT: then SIGTERM, and SIGKILL 5 s later


def executable_path(process: Process) -> Path:
    """Where `ros2 run` would find it (`<prefix>/lib/<package>/`), else on PATH."""
    prefixes = [*os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep), sys.prefix]
    for prefix in filter(None, prefixes):
        if (path := Path(prefix) / "lib" / process.package / process.executable).is_file():
            return path
    if found := shutil.which(process.executable, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"):
        return Path(found)
    raise BringupError(
        f"{process.package}'s executable {process.executable} is not installed; "
        "run scripts/setup.sh (pip) or source install/setup.bash after colcon build"
    )


def command_line(process: Process) -> list[str]:
    return [str(executable_path(process)), *process.arguments, *process.ros_arguments()]


@dataclass
class Running:
    process: Process
    popen: subprocess.Popen
    stopping_since: float | None = None
    signals: list[int] = field(default_factory=list)


class Bringup:
    """Runs processes until Ctrl-C or until one of them ends; returns non-zero if one failed."""

    def __init__(self, processes: list[Process], *, out: TextIO = sys.stdout, env: dict[str, str] | None = None):
        self.out = out
        self.processes = [p for p in processes if not p.ros_only]
        for process in processes:
            if process.ros_only:
                self._say(f"{process.name} runs under ros2 launch only ({process.package} is on no pip registry)")
        self.env = {**(env or os.environ), "PYTHONUNBUFFERED": "1", "RCUTILS_LOGGING_BUFFERED_STREAM": "0"}
        self.commands = {p.name: command_line(p) for p in self.processes}  # every one found before any starts
        self.gate = ReadinessGate(self.processes)
        self.events: queue.Queue[tuple[str, str, int | str]] = queue.Queue()
        self.running: dict[str, Running] = {}
        self.failures: list[str] = []
        self.stop_requested = threading.Event()
        self.signals_received = 0

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for process in self.processes:
                if not process.after:
                    self._start(process)
            self._supervise()
            self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        for failure in self.failures:
            self._say(f"failed: {failure}")
        return 1 if self.failures else 0

    def _on_signal(self, signum: int, _frame) -> None:
        """Only queued: printing here could re-enter a print the signal interrupted."""
        self.stop_requested.set()
        self.events.put(("signal", "", signum))

    def _say(self, text: str) -> None:
        print(f"[lerobot_bringup] {text}", file=self.out, flush=True)

    def _start(self, process: Process) -> None:
        popen = subprocess.Popen(
            self.commands[process.name],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self.running[process.name] = Running(process, popen)
        self._say(f"started {process.name}: {shlex.join(self.commands[process.name])} (pid {popen.pid})")
        threading.Thread(target=self._pump, args=(process.name, popen), daemon=True).start()

    def _pump(self, name: str, popen: subprocess.Popen) -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            self.events.put(("line", name, line.rstrip("\n")))
        self.events.put(("exit", name, popen.wait()))

    def _handle_next(self) -> None:
        with suppress(queue.Empty):
            self._handle(*self.events.get(timeout=0.2))

    def _handle(self, kind: str, name: str, value: int | str) -> None:
        if kind == "line":
            print(f"[{name}] {value}", file=self.out, flush=True)
            for process in self.gate.output(name, str(value)):
                if not self.stop_requested.is_set():
                    self._start(process)
        elif kind == "signal":
            self.signals_received += 1
            if self.signals_received > 1:
                self._say("already stopping: each driver turns torque off before its simulator stops")
        elif kind == "exit":
            entry = self.running.pop(name)
            expected = entry.stopping_since is not None
            self._say(f"{name} exited with code {value}" + ("" if expected else " on its own"))
            if value != 0 or not expected:
                self.failures.append(f"{name} exited with code {value}" + ("" if expected else " before Ctrl-C"))
                self.stop_requested.set()

    def _supervise(self) -> None:
        started = time.monotonic()
        while not self.stop_requested.is_set():
            self._handle_next()
            if self.gate.waiting and time.monotonic() - started > READY_TIMEOUT_S:
                late = {name for p in self.gate.waiting for name in p.after} - self.gate.ready
                self.failures.append(f"{', '.join(sorted(late))} did not report ready within {READY_TIMEOUT_S:.0f} s")
                self.stop_requested.set()

    def _stop_all(self) -> None:
        """SIGINT once to each process no running process waits for, until none runs."""
        while self.running:
            needed = {name for entry in self.running.values() for name in entry.process.after}
            now = time.monotonic()
            for name, entry in self.running.items():
                if name not in needed and entry.stopping_since is None:
                    entry.stopping_since = now
                    self._signal(entry, signal.SIGINT)
                elif entry.stopping_since is not None:
                    waited = now - entry.stopping_since
                    if waited > STOP_TIMEOUT_S and signal.SIGTERM not in entry.signals:
                        self._say(f"{name} did not stop within {STOP_TIMEOUT_S:.0f} s of SIGINT: SIGTERM")
                        self._signal(entry, signal.SIGTERM)
                    elif waited > STOP_TIMEOUT_S + 5 and signal.SIGKILL not in entry.signals:
                        self._signal(entry, signal.SIGKILL)
            self._handle_next()

    def _signal(self, entry: Running, signum: int) -> None:
        entry.signals.append(signum)
        with suppress(ProcessLookupError):
            os.killpg(entry.popen.pid, signum)
