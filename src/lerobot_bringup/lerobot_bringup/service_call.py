"""A service call from a process that spins its own executor, as the episode runner and the
main job do between their other work."""

from __future__ import annotations

import time
from typing import Any

from rclpy.client import Client
from rclpy.executors import SingleThreadedExecutor
from rclpy.task import Future


def answer(
    client: Client, executor: SingleThreadedExecutor, request: Any, timeout: float, resend_every: float | None = None
) -> Any:
    """The service's response. A request sent just after discovery can be lost for good, the
    server never seeing it (ros2/rclcpp#1152): an idempotent one is sent again every
    `resend_every` s without an answer, and the first answer to any copy is taken."""
    if not client.wait_for_service(timeout_sec=timeout):
        raise RuntimeError(f"no {client.srv_name} service within {timeout} s: is its node running?")
    deadline = time.monotonic() + timeout
    sent: list[Future] = []
    try:
        while time.monotonic() < deadline:
            sent.append(client.call_async(request))
            again = min(deadline, time.monotonic() + (resend_every or timeout))
            while time.monotonic() < again:
                if answered := next((future for future in sent if future.done()), None):
                    return answered.result()
                executor.spin_once(timeout_sec=0.05)
    finally:
        for future in sent:
            client.remove_pending_request(future)
    raise RuntimeError(f"{client.srv_name} did not answer within {timeout} s ({len(sent)} requests sent)")
