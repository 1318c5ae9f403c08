"""The policy as a lifecycle node: the robot's topics in, joint commands and action chunks out.

configure = load the trained policy folder and the robot profile, check that they agree
(cameras, joints), subscribe; activate = act (actor.py: when to infer, which step runs at
which tick, the command limits), publishing each tick's target in the profile's command type
and each merged chunk on ~/action_chunk; deactivate = stop commanding (the arm driver holds
its position when commands stop). This node only adapts topics, parameters and lifecycle.
Topics: the profile's joint_commands (commands.py), ~/action_chunk (lerobot_msgs/ActionChunk),
~/status (lerobot_msgs/PolicyStatus, 2 Hz and on every state change), /diagnostics; the task
can be changed at run time on ~/task (std_msgs/String), commanding switched on ~/enable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.service import Service
from rclpy.timer import Timer
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool
from visualization_msgs.msg import MarkerArray

from lerobot_drivers.description import RobotDescription, description_for
from lerobot_drivers.errors import DriverError
from lerobot_drivers.images import compressed_to_rgb, image_to_rgb
from lerobot_drivers.nodes.run import ReleasingNode, logged_transition, spin_lifecycle
from lerobot_drivers.profile import RobotProfile, load_profile
from lerobot_drivers.ros_time import time_to_ns
from lerobot_msgs.msg import ActionChunk as ActionChunkMsg
from lerobot_msgs.msg import PolicyStatus
from lerobot_policy.actor import ActingConfig, Actor, Merged, State
from lerobot_policy.bundle import CAMERA_PREFIX, PolicyBundle
from lerobot_policy.errors import PolicyError
from lerobot_policy.execution import ChunkExecutor
from lerobot_policy.memory import keep_freed_memory
from lerobot_policy.nodes.chunk_markers import chunk_markers
from lerobot_policy.nodes.chunk_messages import chunk_to_msg
from lerobot_policy.nodes.commands import MESSAGES, PER_CHUNK, step_message, trajectory
from lerobot_policy.runner import PolicyRunner
from lerobot_policy.safety import CommandLimits


class PolicyNode(ReleasingNode):
    def __init__(self) -> None:
        super().__init__("policy")
        params = {
            "policy_path": ("", "a trained policy folder (checkpoints/<step>/pretrained_model)"),
            "profile": ("", "the robot profile YAML: joint names, camera topics, rate, command topic"),
            "task": ("", "the language instruction; ~/task changes it at run time"),
            "device": ("cpu", "torch device: cpu, cuda, cuda:N"),
            "dtype": ("", "weights: float32 or bfloat16 (Gemma stacks in bf16, as LeRobot); empty: the checkpoint's"),
            "text_tokenizer": ("", "tokenizer folder or hub id; empty: the policy folder's (LeRobot's need one)"),
            "inference_steps": (0, "denoising steps per chunk (0: the checkpoint's num_inference_steps)"),
            "n_action_steps": (0, "steps of each chunk executed before the next (0: the checkpoint's)"),
            "max_observation_age_s": (0.5, "never act on an observation older than this, seconds"),
            "seed": (0, "seed of the sampling noise"),
            "chunk_execution": ("rtc", "rtc (guided real-time chunking), replace (no guidance) or ensemble (ACT's)"),
            "refill_steps": (0, "steps left when the next inference starts (0: max(delay + 2, half a chunk))"),
            "rtc_execution_horizon": (10, "RTC: steps of the new chunk guided towards the committed ones"),
            "rtc_max_guidance_weight": (10.0, "RTC: the cap of the guidance weight (LeRobot 10, PI's reference 5)"),
            "rtc_schedule": ("linear", "RTC: prefix weights linear, exp, ones or zeros"),
            "rtc_through_model": (False, "RTC: the error's VJP through the model (PI's reference; a backward pass)"),
            "dry_run": (False, "publish chunks and status, never a command"),
            "added_latency_s": (0.0, "sleep this long after each inference, to rehearse a slower model (0 in use)"),
            "autostart": (False, "configure and activate at start-up"),
        }
        for name, (default, text) in params.items():
            self.declare_parameter(name, default, ParameterDescriptor(description=text))
        self.actor: Actor | None = None
        self.profile: RobotProfile | None = None
        self._status_timer: Timer | None = None
        self._tick_timer: Timer | None = None
        self._subs: list = []
        self._description: RobotDescription | None = None
        self._path_pub: Publisher | None = None
        self._enable_srv: Service | None = None

    @property
    def is_configured(self) -> bool:
        return self.actor is not None

    def _param(self, name: str):
        return self.get_parameter(name).value

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    # --- lifecycle ----------------------------------------------------------------------------
    @logged_transition
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            profile = load_profile(self._param("profile"))
            if not self._param("policy_path").strip():
                raise PolicyError("no policy given: set policy_path to a trained policy folder (.../pretrained_model)")
            bundle = PolicyBundle.load(
                Path(self._param("policy_path")),
                dtype=self._param("dtype") or None,
                text_tokenizer=self._param("text_tokenizer") or None,
            )
            check_agreement(profile, bundle)
            n_action_steps = self._param("n_action_steps") or bundle.policy.config.n_action_steps
            executor = ChunkExecutor(self._param("chunk_execution"), n_action_steps)
            config = ActingConfig(
                fps=profile.fps, max_observation_age_s=self._param("max_observation_age_s"),
                refill_steps=self._param("refill_steps"), per_chunk=profile.topics.command_type in PER_CHUNK,
                dry_run=self._param("dry_run"), added_latency_s=self._param("added_latency_s"),
                rtc_execution_horizon=self._param("rtc_execution_horizon"),
                rtc_max_guidance_weight=self._param("rtc_max_guidance_weight"),
                rtc_schedule=self._param("rtc_schedule"), rtc_through_model=self._param("rtc_through_model"),
            )  # fmt: skip
            keep_freed_memory()
            runner = PolicyRunner(
                bundle, device=self._param("device"), steps=self._param("inference_steps") or None,
                seed=self._param("seed"),
            )  # fmt: skip
            self.actor = Actor(
                runner, executor, CommandLimits.from_profile(profile, profile.fps), config, task=self._param("task"),
                clock_ns=self._now_ns, on_chunk=self._on_chunk, on_status=self._publish_status,
            )  # fmt: skip
        except (DriverError, PolicyError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.profile = profile
        kind = profile.topics.command_type
        per_tick = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)  # only the newest target matters
        qos = QoSProfile(depth=10) if kind in PER_CHUNK else per_tick
        self._command_pub = self.create_publisher(MESSAGES[kind], profile.topics.joint_commands, qos)
        self._enable_srv = self.create_service(SetBool, "~/enable", self._on_enable)
        self._chunk_pub = self.create_publisher(ActionChunkMsg, "~/action_chunk", 10)
        self._description = self._robot_description(profile)
        self._path_pub = self.create_publisher(MarkerArray, "~/chunk_path", 10) if self._description else None
        self._status_pub = self.create_publisher(PolicyStatus, "~/status", 10)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._subs = [
            self.create_subscription(JointState, profile.topics.joint_states, self._on_state, qos_profile_sensor_data),
            self.create_subscription(String, "~/task", self._on_task, 10),
        ]
        for camera in profile.cameras:
            key = CAMERA_PREFIX + camera.name
            if key not in bundle.assets.features.cameras:
                continue  # a camera the policy was not trained on: not decoded 30 times a second for nothing
            kind = CompressedImage if camera.compressed else Image
            self._subs.append(self.create_subscription(
                kind, camera.topic, lambda msg, key=key: self._on_image(key, msg), qos_profile_sensor_data
            ))  # fmt: skip
        self._status_timer = self.create_timer(0.5, self._publish_status)
        self.get_logger().info(
            f"policy {self._param('policy_path')} for {profile.robot_type}: cameras {bundle.assets.features.cameras}, "
            f"commands on {profile.topics.joint_commands} at {profile.fps} Hz"
        )
        return TransitionCallbackReturn.SUCCESS

    @logged_transition
    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        assert self.actor is not None and self.profile is not None  # configured
        try:
            self.actor.start()
        except PolicyError as exc:
            self.get_logger().error(str(exc))
            return TransitionCallbackReturn.FAILURE
        self._tick_timer = self.create_timer(1.0 / self.profile.fps, self._tick)
        return super().on_activate(state)

    @logged_transition
    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_acting()
        return super().on_deactivate(state)

    def _stop_acting(self) -> None:
        if self._tick_timer is not None:
            self.destroy_timer(self._tick_timer)
            self._tick_timer = None
        if self.actor is not None:
            self.actor.stop()

    def release(self) -> None:
        """Stop commanding; the arm driver holds (and torques off on its own shutdown)."""
        if self.actor is None:
            return
        self._stop_acting()
        if self._status_timer is not None:
            self.destroy_timer(self._status_timer)
        if self._enable_srv is not None:
            self.destroy_service(self._enable_srv)
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._status_timer, self._enable_srv, self._subs, self.actor = None, None, [], None

    # --- topics ---------------------------------------------------------------------------------
    def _on_state(self, msg: JointState) -> None:
        assert self.actor is not None  # subscribed while configured
        self.actor.on_state(list(msg.name), list(msg.position), time_to_ns(msg.header.stamp))

    def _on_image(self, key: str, msg: Image | CompressedImage) -> None:
        assert self.actor is not None
        if not self.actor.active:
            return  # decoding costs: only while acting
        try:
            rgb = compressed_to_rgb(msg) if isinstance(msg, CompressedImage) else image_to_rgb(msg)
        except DriverError as exc:
            self.get_logger().warning(f"{key}: {exc}", throttle_duration_sec=2.0)
            return
        self.actor.on_image(key, rgb)

    def _on_task(self, msg: String) -> None:
        assert self.actor is not None
        if msg.data.strip():
            self.actor.task = msg.data
            self.get_logger().info(f"task: {msg.data!r}")

    def _tick(self) -> None:
        assert self.actor is not None and self.profile is not None  # ticks while active
        target = self.actor.tick()
        if target is not None:
            kind, stamp = self.profile.topics.command_type, self.get_clock().now().to_msg()
            self._command_pub.publish(step_message(kind, self.profile.joint_names, target, stamp))

    def _on_chunk(self, merged: Merged) -> None:
        """From the inference thread: the chunk, and a trajectory when the robot takes whole chunks."""
        assert self.profile is not None
        self._chunk_pub.publish(chunk_to_msg(merged.chunk, self._now_ns()))
        if self._path_pub is not None and self._description is not None:
            self._path_pub.publish(chunk_markers(self._description, merged.chunk, self.get_clock().now().to_msg()))
        if merged.pending is not None and len(merged.pending):
            self._command_pub.publish(
                trajectory(self.profile.joint_names, merged.pending, merged.first_due_ns, merged.chunk.period_s)
            )

    def _robot_description(self, profile: RobotProfile) -> RobotDescription | None:
        """The URDF that turns chunks into a tool path for rviz; acting never depends on it."""
        if not profile.description:
            return None
        try:
            description = description_for(profile)
        except DriverError as exc:
            self.get_logger().warning(f"no chunk path on ~/chunk_path: {exc}")
            return None
        return description

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        """Disabled: no command is published and the queue is emptied; chunks in flight are dropped."""
        if self.actor is None:  # the service outlives a cleanup that is in progress
            response.success, response.message = False, "not configured"
            return response
        self.actor.enable(request.data)
        response.success, response.message = True, "commanding" if request.data else "not commanding"
        self.get_logger().info(f"~/enable: {response.message}")
        return response

    # --- status ---------------------------------------------------------------------------------
    def _publish_status(self) -> None:
        actor, profile = self.actor, self.profile
        if actor is None or profile is None or not self.context.ok():  # after Ctrl-C the publishers are gone
            return
        state, message = actor.status
        if state == State.ERROR:
            self.get_logger().error(message, throttle_duration_sec=2.0)
        _, age = actor.observations.newest(actor.task, self._now_ns())
        msg = PolicyStatus(state=int(state), message=message, task=actor.task)
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.checkpoint = str(self._param("policy_path"))
        msg.chunks_published = msg.last_sequence = actor.sequence
        msg.queued_steps = actor.chunks.queued()
        msg.last_inference_latency = actor.last_latency
        msg.observation_age = age if np.isfinite(age) else -1.0
        self._status_pub.publish(msg)
        level = DiagnosticStatus.ERROR if state == State.ERROR else DiagnosticStatus.OK
        diagnostic = DiagnosticStatus(
            level=level, name=f"{self.get_name()}: policy", message=message, hardware_id=profile.robot_type,
            values=[KeyValue(key=k, value=v) for k, v in actor.statistics().items()],
        )  # fmt: skip
        self._diag_pub.publish(DiagnosticArray(header=msg.header, status=[diagnostic]))


def check_agreement(profile: RobotProfile, bundle: PolicyBundle) -> None:
    """The robot must offer what the policy was trained on: its cameras and its joints."""
    features = bundle.assets.features
    cameras = {CAMERA_PREFIX + camera.name for camera in profile.cameras}
    missing = [key for key in features.cameras if key not in cameras]
    if missing:
        raise PolicyError(
            f"the policy was trained with cameras {features.cameras}; the profile {profile.source} has "
            f"{sorted(cameras)}: add the missing camera(s) {missing} to the profile"
        )
    if features.fps and features.fps != profile.fps:
        raise PolicyError(
            f"the policy was trained on {features.fps} fps data, the profile {profile.source} runs at "
            f"{profile.fps} Hz: its chunk steps would play at the wrong speed; set the profile's fps to the dataset's"
        )
    joints = [joint.name for joint in profile.joints]
    for kind, names in (("state", features.state_names), ("action", features.action_names)):
        positional = [f"{kind}_{i}" for i in range(len(joints))]
        if list(names) == positional:  # a LeRobot checkpoint keeps no joint names: the profile's order
            continue
        if list(names) != joints:
            raise PolicyError(
                f"the policy's {kind} joints {list(names)} are not the profile's joints {joints} (same order)"
            )


def main(args: list[str] | None = None) -> int:
    return spin_lifecycle(PolicyNode, args)


if __name__ == "__main__":
    sys.exit(main())
