"""Which step of which chunk the robot executes at each control tick. No rclpy.

A chunk is inferred from an observation taken at some tick while the robot keeps executing
the previous chunk; when it arrives, the steps meant for the ticks that have passed since are
overtaken. Three ways to go from one chunk to the next, selectable so they can be compared on
the same data:
- "rtc": the new chunk was inferred agreeing with the steps the old one had committed (see
  rtc.py); it replaces the queue minus the overtaken steps (min(estimated delay, consumed)).
- "replace": the same merge without guidance (the arm may jump where chunks disagree).
- "ensemble": every chunk's prediction for a tick is averaged with ACT's temporal-ensemble
  weights exp(-m * i), i = 0 for the oldest prediction.
An empty queue holds the last target (the servos keep it); once a chunk has run since the last
reset, such a tick is starved (waiting for the first chunk is not). A reset bumps the epoch,
so a chunk still being inferred for the old episode is discarded on arrival.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from lerobot_policy.errors import PolicyError
from lerobot_policy.rtc import steps_to_drop

MODES = ("rtc", "replace", "ensemble")


@dataclass(frozen=True)
class Ticket:
    """Handed out when an inference starts: the tick its observation belongs to, the epoch, and
    the delay (in ticks) the inference was planned with."""

    tick: int
    epoch: int
    delay: int


@dataclass
class Statistics:
    starved_ticks: int = 0  # the queue ran dry after a chunk had run (not while waiting for the first)
    merged_chunks: int = 0
    discarded_chunks: int = 0  # arrived after a reset
    largest_boundary_step: float = 0.0  # largest joint change from the last executed step to a new chunk's first
    largest_inner_step: float = 0.0  # largest joint change between consecutive steps inside a chunk


class ChunkExecutor:
    """Thread-safe: the control loop calls `next_step` at every tick while an inference
    thread calls `start_inference` and `merge`."""

    def __init__(self, mode: str, n_action_steps: int, *, ensemble_m: float = 0.01) -> None:
        if mode not in MODES:
            raise PolicyError(f"chunk execution mode {mode!r}: use one of {MODES}")
        self.mode = mode
        self.n_action_steps = n_action_steps
        self.ensemble_m = ensemble_m
        self.stats = Statistics()
        self._lock = threading.Lock()
        self._tick = 0
        self._epoch = 0
        self._queue: list[tuple[np.ndarray, np.ndarray]] = []  # (action, normalized) per coming tick
        self._predictions: dict[int, list[np.ndarray]] = {}  # ensemble: tick -> predictions, oldest first
        self._last: np.ndarray | None = None
        self._fresh = False
        self._primed = False  # a chunk merged since the last reset

    def start_inference(self, delay: int) -> Ticket:
        with self._lock:
            return Ticket(self._tick, self._epoch, delay)

    def committed(self) -> np.ndarray | None:
        """(n, D) normalized steps still queued: what the next chunk must agree with (rtc)."""
        with self._lock:
            return np.stack([normalized for _, normalized in self._queue]) if self._queue else None

    def merge(self, ticket: Ticket, actions: np.ndarray, normalized: np.ndarray) -> int | None:
        """A chunk inferred for `ticket`: its steps join the queue. Returns how many of its steps
        were overtaken, or None when it belongs to an epoch before a reset (discarded)."""
        actions, normalized = actions[: self.n_action_steps], normalized[: self.n_action_steps]
        with self._lock:
            if ticket.epoch != self._epoch:
                self.stats.discarded_chunks += 1
                return None
            consumed = self._tick - ticket.tick
            drop = consumed if self.mode != "rtc" else steps_to_drop(ticket.delay, consumed)
            drop = min(drop, len(actions) - 1)  # the last step is still the best target there is
            if len(actions) > 1:
                inner = float(np.abs(np.diff(actions, axis=0)).max())
                self.stats.largest_inner_step = max(self.stats.largest_inner_step, inner)
            if self.mode == "ensemble":
                for k in range(drop, len(actions)):
                    self._predictions.setdefault(ticket.tick + k, []).append(actions[k])
            else:
                self._queue = list(zip(actions[drop:], normalized[drop:], strict=True))
            self._fresh = self._primed = True
            self.stats.merged_chunks += 1
            return drop

    def next_step(self) -> np.ndarray | None:
        """The target for this tick, or None when starved (hold the last target)."""
        with self._lock:
            tick = self._tick
            self._tick += 1
            if self.mode == "ensemble":
                predictions = self._predictions.pop(tick, None)
                for old in [t for t in self._predictions if t < tick]:
                    del self._predictions[old]
                step = None if predictions is None else ensemble(predictions, self.ensemble_m)
            else:
                step = self._queue.pop(0)[0] if self._queue else None
            if step is None:
                self.stats.starved_ticks += int(self._primed)
                return None
            if self._last is not None and self._fresh:  # the first step of a newly merged chunk
                self.stats.largest_boundary_step = max(
                    self.stats.largest_boundary_step, float(np.abs(step - self._last).max())
                )
            self._fresh = False
            self._last = step
            return step

    def pending(self) -> np.ndarray:
        """(n, D) the queued targets, the first for the next tick (not for "ensemble")."""
        with self._lock:
            return np.stack([action for action, _ in self._queue]) if self._queue else np.zeros((0, 0))

    def queued(self) -> int:
        with self._lock:
            if self.mode == "ensemble":
                return sum(1 for t in self._predictions if t >= self._tick)
            return len(self._queue)

    def needs_refill(self, delay: int, refill_steps: int = 0) -> bool:
        """Whether the next inference should start: at `refill_steps` steps left, by default at
        the larger of the delay + 2 and half a chunk. Half a chunk of slack absorbs a latency
        spike the delay estimate has not seen yet (measured, bench/policy.py on 2 loaded cores:
        one 380 ms inference against a 100 ms estimate starved 5 ticks at delay + 2), and the
        policy looks at the scene again twice per chunk."""
        return self.queued() <= (refill_steps or max(delay + 2, self.n_action_steps // 2))

    def reset(self) -> None:
        """A new episode: nothing queued, and chunks already being inferred are discarded."""
        with self._lock:
            self._epoch += 1
            self._queue.clear()
            self._predictions.clear()
            self._last = None
            self._primed = False


def ensemble(predictions: list[np.ndarray], m: float) -> np.ndarray:
    """ACT's temporal ensemble: weights exp(-m * i), i = 0 for the oldest prediction."""
    weights = np.exp(-m * np.arange(len(predictions)))
    return np.tensordot(weights / weights.sum(), np.stack(predictions), axes=1)
