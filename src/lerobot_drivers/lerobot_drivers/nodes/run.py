"""One way to run the suite's lifecycle nodes, with or without a lifecycle manager."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import Protocol

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

RCLError = rclpy_implementation.RCLError


class ManagedNode(Protocol):
    @property
    def is_configured(self) -> bool: ...

    def release(self) -> None:
        """Stop work and free the hardware (torque off where configured)."""

    def get_parameter(self, name: str): ...

    def trigger_configure(self): ...

    def trigger_activate(self): ...

    def destroy_node(self) -> None: ...


def spin_lifecycle(make_node: Callable[[], ManagedNode], args: list[str] | None = None) -> None:
    """Spin until Ctrl-C or shutdown; `autostart:=true` configures and activates at once
    (pip-only machines have no `ros2 lifecycle`). The hardware is released on every way out."""
    rclpy.init(args=args)
    node = make_node()
    try:
        if node.get_parameter("autostart").value:
            node.trigger_configure()
            if node.is_configured:
                node.trigger_activate()
        rclpy.spin(node)  # type: ignore[arg-type]
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RCLError:
        # SIGINT shuts the context down from the signal handler; an executor that was just
        # building its wait set then fails on the dead context: that is the same Ctrl-C
        if rclpy.ok():
            raise
    finally:
        node.release()
        node.destroy_node()
        rclpy.try_shutdown()


def logged_transition(callback: Callable) -> Callable:
    """rclpy turns an exception in a transition callback into the error transition without a
    word: log the traceback first, so a failure says why."""

    @functools.wraps(callback)
    def wrapper(node, state):
        try:
            return callback(node, state)
        except Exception:
            node.get_logger().error(f"{callback.__name__} raised:\n{traceback.format_exc()}")
            return TransitionCallbackReturn.ERROR

    return wrapper


class ReleasingNode(LifecycleNode):
    """A lifecycle node whose hardware is released (torque off, device closed) on cleanup,
    on shutdown and on any error; every subclass defines `release()`, safe to call twice."""

    @logged_transition
    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        return TransitionCallbackReturn.SUCCESS

    @logged_transition
    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f"error during a transition from {state.label}: releasing the hardware")
        self.release()
        return TransitionCallbackReturn.SUCCESS
