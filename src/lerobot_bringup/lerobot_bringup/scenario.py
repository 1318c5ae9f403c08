"""What a scenario is: its arguments and the processes it starts, free of launch and rclpy.

The launch files and `lerobot_bringup` both render the same `Process` list, so a scenario
started either way runs the same executables with the same parameters and remappings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lerobot_bringup.errors import BringupError


@dataclass(frozen=True)
class Argument:
    name: str
    default: str
    description: str


@dataclass(frozen=True)
class Process:
    """A node of a package, or (`node=False`) a plain program of a package such as a simulator.

    `ready` is a pattern the process prints once others may use it (a simulator's port); the
    processes named in `after` start only then, and are stopped before it. `ros_only` marks a
    process that exists only on a ROS install (robot_state_publisher is on no registry here).
    """

    name: str
    package: str
    executable: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    arguments: tuple[str, ...] = ()
    namespace: str = ""
    node: bool = True
    ready: str | None = None
    after: tuple[str, ...] = ()
    lifecycle: bool = True
    ros_only: bool = False

    def ros_arguments(self) -> list[str]:
        """What `ros2 run` and launch_ros pass a node: its name, namespace, parameters, remappings.

        Values are JSON, which ROS parses as YAML with the type kept: a task "true" stays a string.
        """
        if not self.node:
            return []
        args = ["--ros-args", "-r", f"__node:={self.name}"]
        if self.namespace:
            args += ["-r", f"__ns:={self.namespace}"]
        for name, value in self.parameters.items():
            args += ["-p", f"{name}:={json.dumps(value)}"]
        for source, target in self.remappings:
            args += ["-r", f"{source}:={target}"]
        return args


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    arguments: tuple[Argument, ...]
    compose: Callable[[dict[str, str]], list[Process]]

    def resolve(self, given: Mapping[str, str]) -> dict[str, str]:
        """The arguments' values: the defaults overridden by `given`, which must name real ones."""
        known = {argument.name: argument.default for argument in self.arguments}
        for name in given:
            if name not in known:
                raise BringupError(
                    f"scenario {self.name!r} has no argument {name!r}; its arguments: {', '.join(known)}"
                )
        return known | dict(given)

    def processes(self, given: Mapping[str, str]) -> list[Process]:
        values = self.resolve(given)
        processes = self.compose(values)
        if namespace := values.get("namespace", ""):
            if not re.fullmatch(r"/?[A-Za-z_]\w*(/[A-Za-z_]\w*)*", namespace):
                raise BringupError(f"namespace {namespace!r} is not a ROS namespace (such as arm1 or /lab/arm1)")
            absolute = "/" + namespace.lstrip("/")  # as launch_ros makes a namespace under the root
            processes = [replace(p, namespace=absolute) if p.node else p for p in processes]
        names = [process.name for process in processes]
        for process in processes:
            unready = [name for name in process.after if name not in names[: names.index(process.name)]]
            if unready or names.count(process.name) > 1:
                raise ValueError(f"{self.name}: {process.name} waits for {unready} or is not unique")
        return processes


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """`name:=value` items, as `ros2 launch` takes them."""
    values = {}
    for item in items:
        name, separator, value = item.partition(":=")
        if not separator or not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise BringupError(f"expected an argument as name:=value, got {item!r}")
        values[name] = value
    return values


def flag(values: Mapping[str, str], name: str) -> bool:
    """A true/false argument."""
    value = values[name].strip().lower()
    if value not in ("true", "false"):
        raise BringupError(f"argument {name} must be true or false, got {values[name]!r}")
    return value == "true"


class ReadinessGate:
    """Which waiting processes may start once another reports ready; one answer per process."""

    def __init__(self, processes: Iterable[Process]) -> None:
        processes = list(processes)
        self.patterns = {p.name: re.compile(p.ready, re.MULTILINE) for p in processes if p.ready}
        self.waiting = [p for p in processes if p.after]
        self.ready: set[str] = set()

    def output(self, name: str, text: str) -> list[Process]:
        """The processes due now that `name` printed `text`."""
        pattern = self.patterns.get(name)
        if name in self.ready or pattern is None or not pattern.search(text):
            return []
        self.ready.add(name)
        due = [p for p in self.waiting if set(p.after) <= self.ready]
        self.waiting = [p for p in self.waiting if p not in due]
        return due
