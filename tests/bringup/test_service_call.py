"""A service call that outlives a lost request, against a server in its own process."""

import pytest
import rclpy
from conftest import NODES
from rclpy.executors import SingleThreadedExecutor
from std_srvs.srv import SetBool

from lerobot_bringup.service_call import answer
from ros_harness import RosTestbed


def test_an_unanswered_enable_is_sent_again(ros_testbed: RosTestbed):
    """A request the server never saw is not waited on forever: the idempotent enable is resent."""
    server = ros_testbed.start_python("forgetful_enable", str(NODES / "forgetful_enable.py"))
    server.wait_for_output("forgetful_enable ready")
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_testbed.domain_id)
    node = rclpy.create_node("closed_loop", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    client = node.create_client(SetBool, "/policy/enable")
    try:
        response = answer(client, executor, SetBool.Request(data=True), timeout=20.0, resend_every=1.0)
        assert response.success and response.message == "answered request 2", response
        server.wait_for_output("enable request 2: True")
        with pytest.raises(RuntimeError, match=r"/policy/enable did not answer within 1.0 s \(1 requests sent\)"):
            answer(client, executor, SetBool.Request(data=False), timeout=1.0, resend_every=None)
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
