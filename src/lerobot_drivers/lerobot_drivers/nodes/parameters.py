"""Parameters as a user sets them: `fps:=15` and `rate_hz:=50` are numbers whether or not
they carry a decimal point, and a change the node cannot apply while it runs is refused
with the reason instead of being accepted and ignored until the next configure."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter


def declare_parameters(node: Node, table: dict[str, tuple[Any, str]]) -> None:
    """Declare {name: (default, description)}; float defaults take integers too."""
    for name, (default, text) in table.items():
        numeric = isinstance(default, float)
        node.declare_parameter(name, default, ParameterDescriptor(description=text, dynamic_typing=numeric))


def number(node: Node, name: str) -> float:
    return float(node.get_parameter(name).value)


class ParameterRules:
    """Refuses, with a reason, what the node would otherwise silently ignore or crash on."""

    def __init__(
        self,
        node: Node,
        *,
        numbers: Iterable[str] = (),
        positive: Iterable[str] = (),
        at_configure: Iterable[str] = (),
        is_configured: Callable[[], bool],
        live: dict[str, Callable[[float], None]] | None = None,
    ) -> None:
        self.numbers = set(numbers)
        self.positive = set(positive)
        self.at_configure = set(at_configure)
        self.is_configured = is_configured
        self.live = live or {}
        node.add_on_set_parameters_callback(self._check)
        node.add_post_set_parameters_callback(self._apply)

    def _check(self, parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            value = parameter.value
            if parameter.name in self.numbers:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    return SetParametersResult(successful=False, reason=f"{parameter.name} must be a number")
                if parameter.name in self.positive and value <= 0:
                    return SetParametersResult(successful=False, reason=f"{parameter.name} must be > 0, got {value}")
                if value < 0:
                    return SetParametersResult(successful=False, reason=f"{parameter.name} must be >= 0, got {value}")
            if parameter.name in self.at_configure and self.is_configured():
                return SetParametersResult(
                    successful=False,
                    reason=f"{parameter.name} is read at configure: deactivate and clean up the node first, "
                    "then configure again",
                )
        return SetParametersResult(successful=True)

    def _apply(self, parameters: list[Parameter]) -> None:
        for parameter in parameters:
            if parameter.name in self.live:
                self.live[parameter.name](float(parameter.value))
