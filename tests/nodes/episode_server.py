"""Test node: serves start_episode / stop_episode and publishes episode events.

A minimal stand-in peer for the service contract: one episode at a time, indices from 0.
"""

from __future__ import annotations

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from lerobot_msgs.msg import EpisodeEvent
from lerobot_msgs.srv import StartEpisode, StopEpisode


class EpisodeServer(Node):
    def __init__(self) -> None:
        super().__init__("episode_server")
        self._next_index = 0
        self._current: tuple[int, str] | None = None
        events_qos = QoSProfile(
            depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        self._events = self.create_publisher(EpisodeEvent, "episode_events", events_qos)
        self.create_service(StartEpisode, "start_episode", self._start)
        self.create_service(StopEpisode, "stop_episode", self._stop)

    def _publish(self, event: int, index: int, task: str) -> None:
        msg = EpisodeEvent(event=event, episode_index=index, task=task)
        msg.header.stamp = self.get_clock().now().to_msg()
        self._events.publish(msg)

    def _start(self, request: StartEpisode.Request, response: StartEpisode.Response) -> StartEpisode.Response:
        if self._current is not None:
            response.success, response.message = False, f"episode {self._current[0]} is still recording"
        elif not request.task.strip():
            response.success, response.message = False, "task is empty: give the language instruction"
        else:
            self._current = (self._next_index, request.task)
            self._next_index += 1
            response.success, response.message, response.episode_index = True, "started", self._current[0]
            self._publish(EpisodeEvent.START, *self._current)
        return response

    def _stop(self, request: StopEpisode.Request, response: StopEpisode.Response) -> StopEpisode.Response:
        if self._current is None:
            response.success, response.message = False, "no episode is recording"
            return response
        index, task = self._current
        self._current = None
        response.success, response.episode_index = True, index
        response.message = "kept" if request.keep else "discarded"
        self._publish(EpisodeEvent.STOP_KEEP if request.keep else EpisodeEvent.STOP_DISCARD, index, task)
        return response


def main() -> None:
    from spin import spin_until_stopped  # run as a script: tests/nodes is on sys.path

    spin_until_stopped(EpisodeServer, "episode_server ready")


if __name__ == "__main__":
    main()
