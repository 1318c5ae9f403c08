"""One way to run the suite's lifecycle nodes, with or without a lifecycle manager."""

from __future__ import annotations

import faulthandler
import functools
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from contextlib import suppress
from typing import Protocol

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.guard_condition import GuardCondition
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions

RCLError = rclpy_implementation.RCLError


class ManagedNode(Protocol):
    @property
    def is_configured(self) -> bool: ...

    def release(self) -> None:
        """Stop work and free the hardware (torque off where configured)."""

    def get_parameter(self, name: str): ...

    def trigger_configure(self): ...

    def trigger_activate(self): ...

    def get_logger(self): ...

    def create_guard_condition(self, callback: Callable[[], None]) -> GuardCondition: ...

    def destroy_node(self) -> None: ...


class StopSignals:
    """SIGINT and SIGTERM as a request to stop, taken once.

    rclpy's own handlers shut the context down at the first signal, and Python raises
    KeyboardInterrupt at each one: a second Ctrl-C (the terminal and `ros2 launch` each send
    one) then lands inside the torque-off loop and abandons servos still powered, and the
    release can no longer log to /rosout. Here the first signal only asks the executor to stop
    (through a guard condition, woken from a helper thread reading Python's signal wake-up
    fd); later ones are counted and change nothing until the hardware is released.
    """

    def __init__(self) -> None:
        self.received = 0  # a plain counter: a handler interrupted by the next signal must take no lock
        self._armed = False  # the last resort, armed by the first signal
        self._guard: GuardCondition | None = None
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        threading.Thread(target=self._relay, name="stop-signals", daemon=True).start()

    def _on_signal(self, signum: int, frame: object) -> None:
        self.received += 1

    @property
    def requested(self) -> bool:
        return self.received > 0

    def _relay(self) -> None:
        while os.read(self._read_fd, 64):
            if not self._armed:
                # a stop has come: if the main thread never gets to the release (stuck in a call
                # that never returns), the process still ends, printing every thread's stack
                faulthandler.dump_traceback_later(2 * LAST_RESORT_S, exit=True)
                self._armed = True
            if (guard := self._guard) is not None:
                with suppress(Exception):  # the executor may be gone already
                    guard.trigger()

    def wake(self, guard: GuardCondition) -> None:
        self._guard = guard

    def ignore_from_now(self) -> None:
        """Once released, the process only exits: a late signal must not kill it half-way
        (Python resets its own handlers to the default, deadly, one while finalizing), nor
        wake a guard condition that is being destroyed."""
        self._guard = None
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)


LAST_RESORT_S = 12.0  # from the stop request: a release (torque-off with retries) and the teardown fit well within


def exit_if_stuck(code: int, after_s: float = 5.0) -> threading.Timer:
    """The hardware is released: if tearing ROS down then hangs, exit anyway with `code`, so a
    launch file or service manager never waits on a process that has nothing left to do."""

    def leave() -> None:
        print("ROS teardown did not finish within 5 s after the release: exiting", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(code)

    timer = threading.Timer(after_s, leave)
    timer.daemon = True
    timer.start()
    return timer


def spin_lifecycle(make_node: Callable[[], ManagedNode], args: list[str] | None = None) -> int:
    """Spin until Ctrl-C, SIGTERM or shutdown; `autostart:=true` configures and activates at
    once (pip-only machines have no `ros2 lifecycle`) and a failure of either ends the process
    with exit code 1, so a launch file or a service manager sees it. The hardware is released
    on every way out, with the context still alive, before further signals are honoured.
    Returns the process exit code."""
    stop = StopSignals()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = make_node()
    executor = SingleThreadedExecutor()
    executor.add_node(node)  # type: ignore[arg-type]
    stop.wake(node.create_guard_condition(lambda: None))
    code = 0
    try:
        if node.get_parameter("autostart").value and not _autostart(node):
            code = 1
        while code == 0 and not stop.requested and rclpy.ok():
            executor.spin_once()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # the last resort needs no GIL: a call blocked inside C code while holding it (seen once
        # in about 40 runs of a camera stopped by two signals) starves every Python thread, the
        # watchdog below included; this prints every thread's stack, naming the call, and exits 1
        faulthandler.dump_traceback_later(LAST_RESORT_S, exit=True)
        node.release()
        if stop.received > 1:
            node.get_logger().info(f"{stop.received - 1} further stop signal(s) waited for the release")
        stop.ignore_from_now()
        watchdog = exit_if_stuck(code)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        watchdog.cancel()
        faulthandler.cancel_dump_traceback_later()
    return code


def _autostart(node: ManagedNode) -> bool:
    node.trigger_configure()
    if not node.is_configured:
        node.get_logger().error("autostart: configure failed (see above); exiting with code 1")
        return False
    if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
        node.get_logger().error("autostart: activate failed (see above); exiting with code 1")
        return False
    return True


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

    def release(self) -> None:
        raise NotImplementedError

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
