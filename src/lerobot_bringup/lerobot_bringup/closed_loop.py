"""Episodes of a task in the physics scene, driven from the ROS graph: the scripted expert
through the follower's command topic (as a leader arm would), a replayed trajectory, or the
policy node (enabled for the episode). Each episode starts from the home pose with the cube
placed where its seed says, and seen by every camera; the simulated bus's control socket
places the cube and reports the scene, the task's test decides success at every control step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import rclpy
from rclpy.client import Client
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool

from lerobot_bringup.service_call import answer
from lerobot_drivers.profile import RobotProfile
from lerobot_drivers.ros_time import time_to_ns
from lerobot_drivers.sim.cli import send_command
from lerobot_drivers.sim.expert import ScriptedExpert, home
from lerobot_drivers.sim.scene import ArmScene
from lerobot_drivers.sim.tasks import Task, random_cube
from lerobot_msgs.srv import StartEpisode, StopEpisode

Act = Callable[[Mapping[str, Any]], Mapping[str, float] | None]  # the scene now -> joint targets (None: none)


@dataclass(frozen=True)
class Outcome:
    success: bool
    distance: float  # the task's, at the end (m)
    seconds: float  # until success, or the whole episode


class EpisodeRunner:
    def __init__(
        self, profile: RobotProfile, control: str, scene: str = "so101_pick", domain_id: int | None = None
    ) -> None:
        self.profile, self.control = profile, control
        self.scene = ArmScene(profile, scene)  # kinematics for the expert
        self.calibration = self.scene.calibration
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("closed_loop", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        commands = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)  # as the leader arm's
        self.commands = self.node.create_publisher(JointState, profile.topics.joint_commands, commands)
        self.policy_task = self.node.create_publisher(String, "/policy/task", 10)
        self.clients: dict[str, Client] = {
            "start": self.node.create_client(StartEpisode, "/start_episode"),
            "stop": self.node.create_client(StopEpisode, "/stop_episode"),
            "enable": self.node.create_client(SetBool, "/policy/enable"),
        }
        self._seen_ns = {camera.name: 0 for camera in profile.cameras}  # newest frame's capture stamp
        for camera in profile.cameras:
            self.node.create_subscription(
                CompressedImage if camera.compressed else Image,
                camera.topic,
                lambda msg, name=camera.name: self._on_frame(name, msg),
                qos_profile_sensor_data,
            )

    def close(self) -> None:
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)

    # --- the scene ----------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        return send_command(self.control, {})

    def publish(self, targets: Mapping[str, float]) -> None:
        msg = JointState(name=list(targets), position=[float(v) for v in targets.values()])
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self.commands.publish(msg)

    def go_home(self, seconds: float = 2.5) -> None:
        """Back to the home pose (the driver limits each step), the cube out of the way."""
        targets = home(self.scene, self.calibration, self.profile.joint_names)
        self.every_tick(seconds, lambda: self.publish(targets))

    def every_tick(self, seconds: float, work: Callable[[], bool | None]) -> float:
        """`work` once per control period until it returns True or `seconds` pass; the time taken."""
        period, started = 1.0 / self.profile.fps, time.monotonic()
        tick = started
        while time.monotonic() - started < seconds:
            if work():
                break
            tick += period
            self.executor.spin_once(timeout_sec=max(0.0, tick - time.monotonic()))
            time.sleep(max(0.0, tick - time.monotonic()))
        return time.monotonic() - started

    # --- episodes -----------------------------------------------------------------------------
    def prepare(self, seed: int) -> dict[str, Any]:
        """Home, then the cube where the seed puts it; the scene as the episode starts, once every
        camera has shown it (a recording or a policy started sooner sees the previous cube)."""
        self.go_home()
        send_command(self.control, {"cube": list(random_cube(np.random.default_rng(seed)))})
        self.wait_for_frames_since(time.time_ns())
        return self.report()

    def _on_frame(self, name: str, msg: Image | CompressedImage) -> None:
        self._seen_ns[name] = max(self._seen_ns[name], time_to_ns(msg.header.stamp))

    def wait_for_frames_since(self, stamp_ns: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while (behind := [name for name, seen in self._seen_ns.items() if seen < stamp_ns]) and (
            time.monotonic() < deadline
        ):
            self.executor.spin_once(timeout_sec=0.01)
        if behind:
            raise RuntimeError(f"no frame from cameras {behind} within {timeout} s of placing the cube: are they up?")

    def run(
        self, task: Task, start: Mapping[str, Any], act: Act | None, seconds: float, linger_s: float = 0.0
    ) -> Outcome:
        """`act` (or whatever else commands) until the task succeeds, and `linger_s` more, or
        until `seconds` pass."""
        now, succeeded_at = start, None
        began = time.monotonic()

        def step() -> bool:
            nonlocal now, succeeded_at
            now = self.report()
            if succeeded_at is None and task.succeeded(start, now):
                succeeded_at = time.monotonic()
            if succeeded_at is not None and time.monotonic() - succeeded_at >= linger_s:
                return True
            if act is not None and (targets := act(now)) is not None:
                self.publish(targets)
            return False

        taken = self.every_tick(seconds, step)
        seconds_used = succeeded_at - began if succeeded_at is not None else taken
        return Outcome(succeeded_at is not None, task.distance(start, now), seconds_used)

    def expert(self, task: Task) -> Act:
        return ScriptedExpert(self.scene, self.calibration, task).act

    def record(self, task: Task, seed: int, seconds: float) -> Outcome:
        """One demonstration by the expert, recorded by the live recorder; kept if it succeeded."""
        start = self.prepare(seed)
        response = self.call("start", StartEpisode.Request(task=task.instruction))
        if not response.success:
            raise RuntimeError(f"start_episode: {response.message}")
        outcome = self.run(task, start, self.expert(task), seconds, linger_s=0.5)
        self.call("stop", StopEpisode.Request(keep=outcome.success))
        return outcome

    def policy_episode(self, task: Task, seed: int, seconds: float) -> Outcome:
        """The policy node drives, enabled for the episode only."""
        self.enable_policy(False)
        start = self.prepare(seed)
        self.enable_policy(True, task)
        try:
            return self.run(task, start, None, seconds)
        finally:
            self.enable_policy(False)

    # --- the recorder and the policy node -------------------------------------------------------
    def call(self, name: str, request: Any, timeout: float = 10.0, resend_every: float | None = None) -> Any:
        return answer(self.clients[name], self.executor, request, timeout, resend_every)

    def enable_policy(self, on: bool, task: Task | None = None) -> None:
        if task is not None:
            self.policy_task.publish(String(data=task.instruction))
        response = self.call("enable", SetBool.Request(data=on), timeout=30.0, resend_every=5.0)  # idempotent
        if not response.success:
            raise RuntimeError(f"/policy/enable: {response.message}")
