"""The policy as a lifecycle node: the robot's topics in, joint commands and action chunks out.

configure = load the trained policy folder and the robot profile, check that they agree
(cameras, joints), subscribe; activate = act: at the profile's rate, publish one step of the
current chunk as a JointState command and, when the steps left cover little more than the
expected inference delay, infer the next chunk in a worker thread from the newest
observation, guided to agree with the steps still committed (real-time chunking; see
execution.py for the other modes); deactivate = stop commanding (the arm driver holds its
position when commands stop). The node never acts on an observation older than
`max_observation_age_s`: it empties its queue, discards chunks in flight and waits. A chunk
with NaN or Inf is refused.
Topics: the profile's joint_commands (JointState), ~/action_chunk (lerobot_msgs/ActionChunk),
~/status (lerobot_msgs/PolicyStatus, 2 Hz and on every state change); the task can be changed
at run time on ~/task (std_msgs/String).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool

from lerobot_drivers.errors import DriverError
from lerobot_drivers.images import compressed_to_rgb, image_to_rgb
from lerobot_drivers.nodes.run import ReleasingNode, logged_transition, spin_lifecycle
from lerobot_drivers.profile import RobotProfile, load_profile
from lerobot_drivers.ros_time import time_to_ns
from lerobot_msgs.msg import ActionChunk as ActionChunkMsg
from lerobot_msgs.msg import PolicyStatus
from lerobot_policy.action_chunk import ActionChunk
from lerobot_policy.bundle import CAMERA_PREFIX, PolicyBundle
from lerobot_policy.errors import PolicyError
from lerobot_policy.execution import ChunkExecutor, Ticket
from lerobot_policy.memory import keep_freed_memory
from lerobot_policy.nodes.commands import MESSAGES, PER_CHUNK, step_message, trajectory
from lerobot_policy.rtc import LatencyTracker
from lerobot_policy.runner import Observation, PolicyRunner, RTCPlan


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
            "refill_steps": (0, "infer the next chunk when this many steps are left (0: the estimated delay + 2)"),
            "rtc_execution_horizon": (10, "RTC: steps of the new chunk guided towards the committed ones"),
            "rtc_max_guidance_weight": (10.0, "RTC: the cap of the guidance weight (LeRobot 10, PI's reference 5)"),
            "rtc_schedule": ("linear", "RTC: prefix weights linear, exp, ones or zeros"),
            "rtc_through_model": (False, "RTC: the error's VJP through the model (PI's reference; a backward pass)"),
            "dry_run": (False, "publish chunks and status, never a command"),
            "autostart": (False, "configure and activate at start-up"),
        }
        for name, (default, text) in params.items():
            self.declare_parameter(name, default, ParameterDescriptor(description=text))
        self.runner: PolicyRunner | None = None
        self.profile: RobotProfile | None = None
        self.chunks: ChunkExecutor | None = None
        self.latency = LatencyTracker()
        self._lock = threading.Lock()
        self._images: dict[str, tuple[np.ndarray, int]] = {}  # camera key -> (rgb, receive ns)
        self._state: tuple[np.ndarray, int, int] | None = None  # positions, stamp ns, receive ns
        self._task = ""
        self._worker: threading.Thread | None = None
        self._active = threading.Event()
        self._status_timer = None
        self._tick_timer = None
        self._subs: list = []
        self._sequence = 0
        self._status = (PolicyStatus.STATE_INACTIVE, "")
        self._last_latency = 0.0
        self._last_tick_ns = 0
        self._enabled = True
        self._refused = 0

    @property
    def is_configured(self) -> bool:
        return self.runner is not None

    def _param(self, name: str):
        return self.get_parameter(name).value

    # --- lifecycle ----------------------------------------------------------------------------
    @logged_transition
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            profile = load_profile(self._param("profile"))
            bundle = PolicyBundle.load(
                Path(self._param("policy_path")),
                dtype=self._param("dtype") or None,
                text_tokenizer=self._param("text_tokenizer") or None,
            )
            check_agreement(profile, bundle)
            n_action_steps = self._param("n_action_steps") or bundle.policy.config.n_action_steps
            executor = ChunkExecutor(self._param("chunk_execution"), n_action_steps)
            if profile.topics.command_type in PER_CHUNK and executor.mode == "ensemble":
                raise PolicyError(f"{profile.source}: joint_trajectory takes whole chunks: use rtc or replace")
        except (DriverError, PolicyError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        keep_freed_memory()
        steps = self._param("inference_steps") or None
        self.runner = PolicyRunner(bundle, device=self._param("device"), steps=steps, seed=self._param("seed"))
        self.profile = profile
        self.chunks, self.latency = executor, LatencyTracker()
        self._task = self._param("task")
        kind = profile.topics.command_type
        per_tick = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)  # only the newest target matters
        qos = QoSProfile(depth=10) if kind in PER_CHUNK else per_tick
        self._command_pub = self.create_publisher(MESSAGES[kind], profile.topics.joint_commands, qos)
        self._enable_srv = self.create_service(SetBool, "~/enable", self._on_enable)
        self._chunk_pub = self.create_publisher(ActionChunkMsg, "~/action_chunk", 10)
        self._status_pub = self.create_publisher(PolicyStatus, "~/status", 10)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._subs = [
            self.create_subscription(JointState, profile.topics.joint_states, self._on_state, qos_profile_sensor_data),
            self.create_subscription(String, "~/task", self._on_task, 10),
        ]
        for camera in profile.cameras:
            key = CAMERA_PREFIX + camera.name
            kind = CompressedImage if camera.topic.endswith("/compressed") else Image
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
        if not self._task:
            self.get_logger().error("no task: set the task parameter or publish one on ~/task")
            return TransitionCallbackReturn.FAILURE
        self._active.set()
        self._tick_timer = self.create_timer(1.0 / self.profile.fps, self._tick)
        self._set_status(PolicyStatus.STATE_WAITING_FOR_OBSERVATION, "waiting for a fresh observation")
        return super().on_activate(state)

    @logged_transition
    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_acting()
        return super().on_deactivate(state)

    def _stop_acting(self) -> None:
        self._active.clear()
        if self._tick_timer is not None:
            self.destroy_timer(self._tick_timer)
            self._tick_timer = None
        if self.chunks is not None:
            self.chunks.reset()
        if self._worker is not None:
            self._worker.join(timeout=30.0)
            self._worker = None
        self._set_status(PolicyStatus.STATE_INACTIVE, "")

    def release(self) -> None:
        """Stop commanding; the arm driver holds (and torques off on its own shutdown)."""
        if self.runner is None:
            return
        self._stop_acting()
        if self._status_timer is not None:
            self.destroy_timer(self._status_timer)
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._status_timer, self._subs, self.runner = None, [], None

    # --- observations -------------------------------------------------------------------------
    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _on_state(self, msg: JointState) -> None:
        names = self.runner.features.state_names
        index = {name: i for i, name in enumerate(msg.name)}
        if any(name not in index for name in names):
            self.get_logger().warning(f"JointState without the joints {names}", throttle_duration_sec=2.0)
            return
        positions = np.array([msg.position[index[name]] for name in names], dtype=np.float32)
        with self._lock:
            self._state = (positions, time_to_ns(msg.header.stamp) or self._now_ns(), self._now_ns())

    def _on_image(self, key: str, msg: Image | CompressedImage) -> None:
        if not self._active.is_set():
            return  # decoding costs: only while acting
        try:
            rgb = compressed_to_rgb(msg) if isinstance(msg, CompressedImage) else image_to_rgb(msg)
        except DriverError as exc:
            self.get_logger().warning(f"{key}: {exc}", throttle_duration_sec=2.0)
            return
        with self._lock:
            self._images[key] = (rgb, self._now_ns())

    def _on_task(self, msg: String) -> None:
        if msg.data.strip():
            self._task = msg.data
            self.get_logger().info(f"task: {msg.data!r}")

    def _observation(self) -> tuple[Observation | None, float]:
        """The newest observation and its age (its oldest part), or None when incomplete or stale."""
        now = self._now_ns()
        with self._lock:
            if self._state is None or any(key not in self._images for key in self.runner.features.cameras):
                return None, float("inf")
            positions, stamp, received = self._state
            images = {key: self._images[key][0] for key in self.runner.features.cameras}
            oldest = min([received, *(self._images[key][1] for key in images)])
        age = (now - oldest) / 1e9
        return Observation(images, positions, stamp, self._task), age

    # --- acting ---------------------------------------------------------------------------------
    def _tick(self) -> None:
        if not self._active.is_set():
            return
        observation, age = self._observation()
        if observation is None:
            self.chunks.reset()
            self._set_status(PolicyStatus.STATE_WAITING_FOR_OBSERVATION, "waiting for the state and every camera")
            return
        if age > self._param("max_observation_age_s"):
            self.chunks.reset()  # never act on an old picture of the world, nor on a chunk inferred from one
            self._set_status(PolicyStatus.STATE_HOLDING_STALE_OBSERVATION, f"newest observation is {age:.2f} s old")
            return
        delay = self.latency.delay_steps(1.0 / self.profile.fps)
        refill = self._param("refill_steps") or delay + 2
        if self.chunks.queued() <= refill and (self._worker is None or not self._worker.is_alive()):
            ticket = self.chunks.start_inference(delay)
            self._worker = threading.Thread(target=self._infer, args=(observation, ticket), daemon=True)
            self._worker.start()
        self._last_tick_ns = self._now_ns()
        step = self.chunks.next_step()
        kind = self.profile.topics.command_type
        if step is None or kind in PER_CHUNK or not self._commanding():
            return  # starved: the arm driver holds the last target
        self._command_pub.publish(step_message(kind, self.profile.joint_names, step, self.get_clock().now().to_msg()))

    def _infer(self, observation: Observation, ticket: Ticket) -> None:
        started = time.perf_counter()
        committed = self.chunks.committed() if self.chunks.mode == "rtc" else None
        plan = None if committed is None else RTCPlan(
            committed, ticket.delay, self._param("rtc_execution_horizon"), self._param("rtc_max_guidance_weight"),
            self._param("rtc_schedule"), self._param("rtc_through_model"),
        )  # fmt: skip
        try:
            actions, normalized = self.runner.infer(observation, plan)
        except PolicyError as exc:
            self._refused += 1
            self.chunks.reset()
            self._set_status(PolicyStatus.STATE_ERROR, str(exc))
            self.get_logger().error(f"inference refused: {exc}", throttle_duration_sec=2.0)
            return
        self._last_latency = time.perf_counter() - started
        self.latency.add(self._last_latency)
        if not self._active.is_set():
            return
        self._sequence += 1
        chunk = ActionChunk(
            joint_names=tuple(self.runner.features.action_names), values=actions, period_s=1.0 / self.profile.fps,
            observation_stamp_ns=observation.stamp_ns, sequence=self._sequence,
        )  # fmt: skip
        skipped = self.chunks.merge(ticket, actions, normalized)
        if skipped is None:
            return  # inferred before a reset: discarded
        self._chunk_pub.publish(chunk.to_msg(self._now_ns()))
        if self.profile.topics.command_type in PER_CHUNK and self._commanding():
            period = 1.0 / self.profile.fps
            first_due = self._last_tick_ns + int(period * 1e9)  # the queue's first step is the next tick's
            self._command_pub.publish(trajectory(self.profile.joint_names, self.chunks.pending(), first_due, period))
        detail = f"chunk {self._sequence} in {self._last_latency * 1e3:.0f} ms" + (
            f", {skipped} overtaken steps skipped" if skipped else ""
        )
        self._set_status(PolicyStatus.STATE_RUNNING, detail)

    def _commanding(self) -> bool:
        return self._enabled and not self._param("dry_run")

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        """Disabled: no command is published and the queue is emptied; chunks in flight are dropped."""
        self._enabled = request.data
        if not request.data and self.chunks is not None:
            self.chunks.reset()
        response.success, response.message = True, "commanding" if request.data else "not commanding"
        self.get_logger().info(f"~/enable: {response.message}")
        return response

    # --- status ---------------------------------------------------------------------------------
    def _set_status(self, state: int, message: str) -> None:
        changed = state != self._status[0]
        self._status = (state, message)
        if changed:
            self._publish_status()

    def _publish_status(self) -> None:
        if self.runner is None or not self.context.ok():  # after Ctrl-C the publishers are gone
            return
        _, age = self._observation()
        msg = PolicyStatus(state=self._status[0], message=self._status[1], task=self._task)
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.checkpoint = str(self._param("policy_path"))
        msg.chunks_published = msg.last_sequence = self._sequence
        msg.queued_steps = self.chunks.queued()
        msg.last_inference_latency = self._last_latency
        msg.observation_age = age if np.isfinite(age) else -1.0
        self._status_pub.publish(msg)
        self._diag_pub.publish(DiagnosticArray(header=msg.header, status=[self._diagnostics()]))

    def _diagnostics(self) -> DiagnosticStatus:
        """How acting goes: inference latency, the delay planned with, starvation, chunk seams."""
        stats, period = self.chunks.stats, 1.0 / self.profile.fps
        values = {
            "chunk execution": self.chunks.mode,
            "inference latency p50 (s)": f"{self.latency.quantile(0.5):.4f}",
            "inference latency p99 (s)": f"{self.latency.quantile(0.99):.4f}",
            "estimated delay (steps)": str(self.latency.delay_steps(period)),
            "queued steps": str(self.chunks.queued()),
            "starved ticks": str(stats.starved_ticks),
            "merged chunks": str(stats.merged_chunks),
            "refused chunks": str(self._refused),
            "discarded chunks (reset while inferring)": str(stats.discarded_chunks),
            "largest step at a chunk boundary (rad)": f"{stats.largest_boundary_step:.4f}",
            "largest step inside a chunk (rad)": f"{stats.largest_inner_step:.4f}",
        }
        level = DiagnosticStatus.ERROR if self._status[0] == PolicyStatus.STATE_ERROR else DiagnosticStatus.OK
        return DiagnosticStatus(
            level=level,
            name=f"{self.get_name()}: policy",
            message=self._status[1],
            hardware_id=self.profile.robot_type,
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )


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
