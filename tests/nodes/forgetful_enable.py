"""Test node: a ~/enable (SetBool) server that never answers its odd-numbered requests, as
when a request is lost on the wire; the even ones are answered. Each is counted on stdout."""

from __future__ import annotations

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.task import Future
from std_srvs.srv import SetBool


class ForgetfulEnable(Node):
    def __init__(self) -> None:
        super().__init__("policy")
        self._requests = 0
        # reentrant: the unanswered request's callback stays pending and must not hold the next
        self.create_service(SetBool, "~/enable", self._on_enable, callback_group=ReentrantCallbackGroup())

    async def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        self._requests += 1
        print(f"enable request {self._requests}: {request.data}", flush=True)
        if self._requests % 2 == 1:
            await Future()  # never done: this request is never answered
        response.success, response.message = True, f"answered request {self._requests}"
        return response


def main() -> None:
    from spin import spin_until_stopped  # run as a script: tests/nodes is on sys.path

    spin_until_stopped(ForgetfulEnable, "forgetful_enable ready")


if __name__ == "__main__":
    main()
