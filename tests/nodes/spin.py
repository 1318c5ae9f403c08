"""How every test node runs: ready line on stdout, spin until Ctrl-C or shutdown, no traceback."""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def spin_until_stopped(make_node: Callable[[], Node], ready: str) -> None:
    rclpy.init()
    try:
        node = make_node()
        print(ready, flush=True)
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        rclpy.try_shutdown()
