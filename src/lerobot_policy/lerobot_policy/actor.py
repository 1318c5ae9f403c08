"""Acting at the robot's rate with a policy that needs longer than a tick to think. No rclpy.

The control loop calls `tick` at the profile's rate and gets the target to command (or None:
hold). A fresh joint state, when the steps left cover little more than the expected
inference delay, starts the next inference in a worker thread from the newest observation
(the freshest picture of the world there will be), guided to agree with the steps still
committed (real-time chunking; execution.py for the other modes). The actor never acts on an
observation older than `max_observation_age_s`, nor, once started or enabled, on one whose
parts arrived before that: it empties its queue, discards chunks in flight and waits. A chunk
with NaN or Inf, or an inference that throws, is refused; every target passes the command
limits (safety.py). A node adapts topics to these calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from lerobot_policy.action_chunk import ActionChunk
from lerobot_policy.errors import PolicyError
from lerobot_policy.execution import ChunkExecutor, Ticket
from lerobot_policy.observations import ObservationBuffer
from lerobot_policy.rtc import LatencyTracker
from lerobot_policy.runner import Observation, PolicyRunner, RTCPlan
from lerobot_policy.safety import CommandLimits


class State(IntEnum):
    """The values of lerobot_msgs/PolicyStatus.state."""

    INACTIVE = 0
    WAITING_FOR_OBSERVATION = 1
    RUNNING = 2
    HOLDING_STALE_OBSERVATION = 3
    ERROR = 4


@dataclass(frozen=True)
class ActingConfig:
    fps: float
    max_observation_age_s: float = 0.5
    refill_steps: int = 0  # 0: the larger of the estimated delay + 2 and half a chunk
    per_chunk: bool = False  # the robot takes whole chunks (a trajectory), not one target per tick
    dry_run: bool = False
    added_latency_s: float = 0.0  # slept after each inference: rehearses a slower model or machine
    rtc_execution_horizon: int = 10
    rtc_max_guidance_weight: float = 10.0
    rtc_schedule: str = "linear"
    rtc_through_model: bool = False

    @property
    def period_s(self) -> float:
        return 1.0 / self.fps


@dataclass(frozen=True)
class Merged:
    """A chunk that joined the queue: published as is, and, when commanding whole chunks, the
    limited steps still to execute, the first due at `first_due_ns`."""

    chunk: ActionChunk
    pending: np.ndarray | None
    first_due_ns: int


class Actor:
    def __init__(
        self,
        runner: PolicyRunner,
        executor: ChunkExecutor,
        limits: CommandLimits,
        config: ActingConfig,
        *,
        task: str,
        clock_ns: Callable[[], int],
        on_chunk: Callable[[Merged], None],
        on_status: Callable[[], None],
    ) -> None:
        if config.per_chunk and executor.mode == "ensemble":
            raise PolicyError("a trajectory interface takes whole chunks: use chunk execution rtc or replace")
        self.runner, self.chunks, self.limits, self.config = runner, executor, limits, config
        self.task = task
        self.observations = ObservationBuffer(runner.features.state_names, runner.features.cameras)
        self.latency = LatencyTracker()
        self.refused = 0
        self.sequence = 0
        self.last_latency = 0.0
        self.enabled = True
        self._clock, self._on_chunk, self._on_status = clock_ns, on_chunk, on_status
        self._status = (State.INACTIVE, "")
        self._status_lock = threading.Lock()
        self._active = threading.Event()
        self._worker: threading.Thread | None = None
        self._last_target: np.ndarray | None = None
        self._last_tick_ns = 0
        self._acting_since_ns = 0  # observations received before this belong to the time before

    # --- lifecycle ----------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self._active.is_set()

    def start(self) -> None:
        if not self.task:
            raise PolicyError("no task: set the task parameter or publish one on ~/task")
        self._acting_since_ns = self._clock()
        self._active.set()
        self._set_status(State.WAITING_FOR_OBSERVATION, "waiting for a fresh observation")

    def stop(self) -> None:
        """Stop acting; a chunk being inferred is discarded when it arrives."""
        self._active.clear()
        self._reset()
        self.wait_for_inference(30.0)
        self._set_status(State.INACTIVE, "")

    def wait_for_inference(self, timeout: float) -> None:
        """Until the inference running, if any, has ended (its chunk merged or discarded)."""
        if self._worker is not None:
            self._worker.join(timeout)

    def enable(self, on: bool) -> None:
        """Disabled: no chunk is inferred and no target handed out; the queue is emptied and
        chunks in flight are dropped. Enabled again, acting starts over from a fresh observation:
        a chunk planned while nothing ran must not guide the next (RTC would pull the arm back to
        where it was when acting stopped, an episode ago), nor a frame taken before the enable
        (the world may have changed meanwhile: a new episode's scene)."""
        if on != self.enabled:
            self._reset()
            self._acting_since_ns = self._clock()
        self.enabled = on
        if self.active:
            self._set_status(*((State.WAITING_FOR_OBSERVATION, "enabled") if on else (State.INACTIVE, "disabled")))

    @property
    def commanding(self) -> bool:
        return self.enabled and not self.config.dry_run

    def _reset(self) -> None:
        self.chunks.reset()
        self._last_target = None  # the next target starts from the measured position

    # --- observations -------------------------------------------------------------------------
    def on_state(self, names: list[str], positions: list[float], stamp_ns: int) -> None:
        """A joint state: stored, and the next inference starts from it when one is due."""
        try:
            self.observations.add_state(names, positions, stamp_ns, self._clock())
        except PolicyError as exc:
            self._reset()
            self._set_status(State.ERROR, str(exc))
            return
        if self.active:
            self._refill()

    def on_image(self, key: str, rgb: np.ndarray) -> None:
        self.observations.add_image(key, rgb, self._clock())

    def _usable(self) -> Observation | None:
        """The newest observation if it is whole and fresh; otherwise the queue is emptied."""
        now = self._clock()
        self._acting_since_ns = min(self._acting_since_ns, now)  # simulated time restarted: not a wait for ever
        observation, age = self.observations.newest(self.task, now)
        if observation is None:
            self._reset()
            self._set_status(State.WAITING_FOR_OBSERVATION, "waiting for the state and every camera")
        elif age > self.config.max_observation_age_s:
            self._reset()  # never act on an old picture of the world, nor on a chunk inferred from one
            self._set_status(State.HOLDING_STALE_OBSERVATION, f"newest observation is {age:.2f} s old")
        elif age > (now - self._acting_since_ns) / 1e9:
            self._reset()
            self._set_status(State.WAITING_FOR_OBSERVATION, "waiting for the state and every camera since enabled")
        else:
            return observation
        return None

    # --- acting ---------------------------------------------------------------------------------
    def tick(self) -> np.ndarray | None:
        """This tick's target, or None: hold (starved, stale, disabled, or whole-chunk output)."""
        if not self.active or not self.enabled or self._usable() is None:
            return None
        self._last_tick_ns = self._clock()
        step = self.chunks.next_step()
        if step is None or not self.commanding or self.config.per_chunk:
            return None  # a trajectory was limited whole, from the measured position, when it was sent
        self._last_target = self.limits.path(step[None], self._previous())[0]
        return self._last_target

    def _previous(self) -> np.ndarray | None:
        return self._last_target if self._last_target is not None else self.observations.measured()

    def _refill(self) -> None:
        if not self.enabled or (self._worker is not None and self._worker.is_alive()):
            return
        delay = self.latency.delay_steps(self.config.period_s)
        if not self.chunks.needs_refill(delay, self.config.refill_steps):
            return
        observation = self._usable()
        if observation is None:
            return
        ticket = self.chunks.start_inference(delay)
        self._worker = threading.Thread(target=self._infer, args=(observation, ticket), daemon=True)
        self._worker.start()

    def _infer(self, observation: Observation, ticket: Ticket) -> None:
        started = time.perf_counter()
        try:
            actions, normalized = self.runner.infer(observation, self._plan(ticket))
        except Exception as exc:  # any failure of the model refuses the chunk; acting goes on
            self.refused += 1
            self._reset()
            self._set_status(State.ERROR, f"inference refused: {exc}")
            return
        model_s = time.perf_counter() - started
        if self.config.added_latency_s > 0:
            time.sleep(self.config.added_latency_s)
        self.last_latency = time.perf_counter() - started
        self.latency.add(self.last_latency)
        if not self.active:
            return
        skipped = self.chunks.merge(ticket, actions, normalized)
        if skipped is None:
            return  # inferred before a reset: discarded
        self.sequence += 1
        chunk = ActionChunk(
            joint_names=tuple(self.runner.features.action_names), values=actions, period_s=self.config.period_s,
            observation_stamp_ns=observation.stamp_ns, sequence=self.sequence,
        )  # fmt: skip
        pending = None
        if self.config.per_chunk and self.commanding:
            pending = self.limits.path(self.chunks.pending(), self._previous())
        # the queue's first step is the next tick's (before the first tick: due now)
        first_due = max(self._last_tick_ns + round(self.config.period_s * 1e9), self._clock())
        self._on_chunk(Merged(chunk, pending, first_due))
        detail = f"chunk {self.sequence} in {model_s * 1e3:.0f} ms"
        self._set_status(State.RUNNING, detail + (f", {skipped} overtaken steps skipped" if skipped else ""))

    def _plan(self, ticket: Ticket) -> RTCPlan | None:
        committed = self.chunks.committed() if self.chunks.mode == "rtc" else None
        if committed is None:
            return None
        c = self.config
        return RTCPlan(
            committed, ticket.delay, c.rtc_execution_horizon, c.rtc_max_guidance_weight, c.rtc_schedule,
            c.rtc_through_model,
        )  # fmt: skip

    # --- status ---------------------------------------------------------------------------------
    @property
    def status(self) -> tuple[State, str]:
        with self._status_lock:
            return self._status

    def _set_status(self, state: State, message: str) -> None:
        with self._status_lock:
            changed = state != self._status[0]
            self._status = (state, message)
        if changed:
            self._on_status()

    def statistics(self) -> dict[str, str]:
        """How acting goes: inference latency, the delay planned with, starvation, chunk seams."""
        stats, period = self.chunks.stats, self.config.period_s
        return {
            "chunk execution": self.chunks.mode,
            "inference latency p50 (s)": f"{self.latency.quantile(0.5):.4f}",
            "inference latency p99 (s)": f"{self.latency.quantile(0.99):.4f}",
            "estimated delay (steps)": str(self.latency.delay_steps(period)),
            "queued steps": str(self.chunks.queued()),
            "starved ticks": str(stats.starved_ticks),
            "merged chunks": str(stats.merged_chunks),
            "refused chunks": str(self.refused),
            "discarded chunks (reset while inferring)": str(stats.discarded_chunks),
            "targets changed by the command limits": str(self.limits.limited_steps),
            "largest step at a chunk boundary (rad)": f"{stats.largest_boundary_step:.4f}",
            "largest step inside a chunk (rad)": f"{stats.largest_inner_step:.4f}",
        }
