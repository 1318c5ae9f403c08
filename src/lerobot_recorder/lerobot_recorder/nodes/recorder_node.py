"""Live recorder: the profile's topics into one mcap bag per episode.

Services start_episode (task) and stop_episode (keep or discard); every start and stop is
published on episode_events and written into the bag, so the converter can cut episodes.
Messages are recorded raw (serialized bytes, no decoding), stamped with receive time.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.timer import Timer

from lerobot_drivers.nodes.run import ReleasingNode, logged_transition, spin_lifecycle
from lerobot_drivers.profile import load_profile
from lerobot_msgs.msg import EpisodeEvent
from lerobot_msgs.srv import StartEpisode, StopEpisode
from lerobot_recorder.errors import RecorderError
from lerobot_recorder.live import EpisodeBags
from lerobot_recorder.spec import DatasetSpec


def message_class(type_name: str) -> type:
    """'sensor_msgs/msg/Image' -> the generated class (rclpy needs it even for raw data)."""
    package, kind, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


class RecorderNode(ReleasingNode):
    def __init__(self) -> None:
        super().__init__("recorder")
        self.declare_parameter("profile", "", ParameterDescriptor(description="robot profile YAML"))
        self.declare_parameter("output", "bags", ParameterDescriptor(description="folder for episode bags"))
        self.declare_parameter(
            "autostart", False, ParameterDescriptor(description="configure and activate at start-up")
        )
        self.bags: EpisodeBags | None = None
        self._wanted: set[str] = set()
        self._subscribed: dict[str, object] = {}
        self._graph_timer: Timer | None = None

    @property
    def is_configured(self) -> bool:
        return self.bags is not None

    @logged_transition
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            profile = load_profile(self.get_parameter("profile").value)
            spec = DatasetSpec.from_profile(profile, namespace=self.get_namespace())
        except Exception as exc:  # ProfileError, MappingError: both explain themselves
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        self._wanted = {spec.state_topic, *(c.topic for c in spec.cameras), *(e.topic for e in spec.extra)}
        self._wanted |= {t for t in (spec.action_topic, spec.task_topic) if t}
        events_topic = self.resolve_topic_name("episode_events")
        self.bags = EpisodeBags(Path(self.get_parameter("output").value), events_topic=events_topic)
        events_qos = QoSProfile(
            depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        self._events = self.create_publisher(EpisodeEvent, "episode_events", events_qos)
        self.create_service(StartEpisode, "start_episode", self._start)
        self.create_service(StopEpisode, "stop_episode", self._stop)
        self._graph_timer = self.create_timer(0.5, self._subscribe_new_topics)
        self.get_logger().info(f"recording {sorted(self._wanted)} into {self.bags.folder}")
        return TransitionCallbackReturn.SUCCESS

    def _subscribe_new_topics(self) -> None:
        """Subscribe each wanted topic once it appears, with the type the graph reports."""
        for topic, types in self.get_topic_names_and_types():
            if topic in self._wanted and topic not in self._subscribed and types:
                msgtype = types[0]
                self._subscribed[topic] = self.create_subscription(
                    message_class(msgtype),
                    topic,
                    lambda raw, topic=topic, msgtype=msgtype: self._record(topic, msgtype, raw),
                    qos_profile_sensor_data,
                    raw=True,
                )
                self.get_logger().info(f"subscribed {topic} ({msgtype})")

    def _record(self, topic: str, msgtype: str, raw: bytes) -> None:
        if self.bags is not None and self.bags.recording:
            self.bags.write(topic, msgtype, raw, self.get_clock().now().nanoseconds)

    def _publish_event(self, event: int, index: int, task: str) -> None:
        msg = EpisodeEvent(event=event, episode_index=index, task=task)
        msg.header.stamp = self.get_clock().now().to_msg()
        self._events.publish(msg)

    def _start(self, request: StartEpisode.Request, response: StartEpisode.Response) -> StartEpisode.Response:
        assert self.bags is not None
        try:
            response.episode_index = self.bags.start(request.task, self.get_clock().now().nanoseconds)
        except RecorderError as exc:
            response.success, response.message = False, str(exc)
            return response
        missing = sorted(self._wanted - set(self._subscribed))
        response.success = True
        response.message = f"recording episode {response.episode_index}" + (
            f"; not yet seen: {missing}" if missing else ""
        )
        self._publish_event(EpisodeEvent.START, response.episode_index, request.task)
        return response

    def _stop(self, request: StopEpisode.Request, response: StopEpisode.Response) -> StopEpisode.Response:
        assert self.bags is not None
        task = self.bags.task
        try:
            stopped = self.bags.stop(request.keep, self.get_clock().now().nanoseconds)
        except RecorderError as exc:
            response.success, response.message = False, str(exc)
            return response
        response.success, response.episode_index = True, stopped.index
        response.path = str(stopped.path or "")
        response.message = (
            f"{'kept' if request.keep else 'discarded'} episode {stopped.index} ({stopped.messages} messages)"
        )
        self._publish_event(EpisodeEvent.STOP_KEEP if request.keep else EpisodeEvent.STOP_DISCARD, stopped.index, task)
        self.get_logger().info(response.message)
        return response

    def release(self) -> None:
        if self.bags is not None:
            interrupted = self.bags.close()
            if interrupted is not None:
                self.get_logger().warning(f"shutdown while recording: kept what was recorded as {interrupted}")


def main(args: list[str] | None = None) -> int:
    return spin_lifecycle(RecorderNode, args)


if __name__ == "__main__":
    sys.exit(main())
