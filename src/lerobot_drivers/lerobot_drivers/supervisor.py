"""The arm's control cycle, and what brings the arm back after the faults real rigs have.

- Servos that stop answering: the arm holds its goals and the silent ones are named.
- A power dip: the servos answer again but came back from a power cycle with torque off. Seen
  by reading torque back (after a silence, and in the health reads); the arm is re-checked
  (models, firmware, calibration), its goals re-seeded from where the joints are now, and
  torque turned on again if it was on before. Never over a hardware alarm: that waits for a
  person.
- An unplugged adapter: the port fails with EIO. Commanding stops, the same path is reopened
  at a bounded rate (a /dev/serial/by-id/ path survives re-plugging), then the same re-check
  and re-seeding as after a power dip.

No rclpy here: the node runs `step()` from its timer and turns `events` into log lines and
`status()` into diagnostics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from lerobot_drivers.arm import Arm, ArmState
from lerobot_drivers.errors import BusError, CalibrationError, DriverError, PortLostError

FAULT_AFTER_FAILED_CYCLES = 3
REOPEN_EVERY_S = 0.5
STILL_WAITING_EVERY_S = 10.0


class Link(Enum):
    OK = "ok"
    SILENT = "servos silent"
    PORT_LOST = "port lost"
    FAULT = "fault"  # cannot go on by itself: a person must act


@dataclass(frozen=True)
class Event:
    level: Literal["info", "warn", "error"]
    message: str


class ArmSupervisor:
    def __init__(self, arm: Arm) -> None:
        self.arm = arm
        self.link = Link.OK
        self.detail = ""
        self.silent: list[str] = []
        self.events: list[Event] = []
        self.torque_wanted = False
        self.recoveries = 0
        self._failed_in_a_row = 0
        self._lost_at = 0.0
        self._next_reopen = 0.0
        self._next_reminder = 0.0
        self._reported_alarms: dict[str, str] = {}

    @property
    def port(self) -> str:
        return self.arm.bus.port_name

    def take_events(self) -> list[Event]:
        events, self.events = self.events, []
        return events

    def _say(self, level: Literal["info", "warn", "error"], message: str) -> None:
        self.events.append(Event(level, message))

    # --- what the node calls ---------------------------------------------------------------------
    def activate(self) -> ArmState:
        state = self.arm.activate()
        self.torque_wanted = self.arm.torque_on
        return state

    def deactivate(self) -> None:
        self.torque_wanted = False
        self.arm.deactivate()

    @property
    def commandable(self) -> bool:
        return self.link is Link.OK and self.arm.torque_on

    def step(self, now: float | None = None) -> ArmState | None:
        """One control cycle; None when no fresh state could be read."""
        now = time.monotonic() if now is None else now
        if self.link is Link.PORT_LOST:
            self._try_reopen(now)
            return None
        state = self.arm.cycle()
        if state is None:
            self._on_failed_cycle(now)
            return None
        self._failed_in_a_row = 0
        if self.link is Link.SILENT:
            self._on_answering_again()
        elif self.link is Link.OK:
            self._check_health()
        return state

    def status(self) -> tuple[Literal["ok", "warn", "error"], str]:
        if self.link is not Link.OK:
            return "error", f"{self.link.value}: {self.detail}"
        if alarms := self.arm.alarms():
            return "error", "servo hardware error: " + ", ".join(f"{n}: {what}" for n, what in alarms.items())
        if self._failed_in_a_row:
            return "warn", "bus errors"
        return "ok", "ok"

    # --- faults ------------------------------------------------------------------------------------
    def _on_failed_cycle(self, now: float) -> None:
        if isinstance(self.arm.last_error, PortLostError):
            self._lose_port(now, str(self.arm.last_error))
            return
        self._failed_in_a_row += 1
        if self._failed_in_a_row != FAULT_AFTER_FAILED_CYCLES or self.link is not Link.OK:
            return
        self.arm.target = dict(self.arm.goal)  # hold: act on nothing until the bus is back
        try:
            self.silent = [n for n, m in self.arm.bus.motors.items() if self.arm.bus.ping(m.id) is None]
        except PortLostError as exc:
            self._lose_port(now, str(exc))
            return
        everyone = len(self.silent) == len(self.arm.names)
        self.link = Link.SILENT
        self.detail = f"not answering: {', '.join(self.silent) or 'none'}; holding"
        self._say(
            "error",
            f"servo bus {self.port}: "
            + ("no servo answers (power lost?)" if everyone else f"{self.silent} do not answer")
            + "; holding position. Check the servos' power supply and cabling",
        )

    def _lose_port(self, now: float, why: str) -> None:
        self.arm.torque_on = False  # nothing can be commanded through a dead port
        self.link = Link.PORT_LOST
        self._lost_at = now
        self._next_reopen = now + REOPEN_EVERY_S
        self._next_reminder = now + STILL_WAITING_EVERY_S
        self.detail = f"{self.port} gone; reopening it every {REOPEN_EVERY_S} s"
        self._say(
            "error",
            f"{why}. Commands stop; the servos keep their last goal and torque until the port is back "
            f"(cut the arm's power if it must go limp now). Reopening {self.port} every {REOPEN_EVERY_S} s",
        )

    def _try_reopen(self, now: float) -> None:
        if now < self._next_reopen:
            return
        self._next_reopen = now + REOPEN_EVERY_S
        try:
            self.arm.reconnect()
        except CalibrationError as exc:
            self._fault(f"the arm on {self.port} came back with another calibration: {exc}")
            return
        except DriverError as exc:  # not there yet, or the servos not powered yet
            if now >= self._next_reminder:
                self._next_reminder = now + STILL_WAITING_EVERY_S
                self._say("warn", f"still waiting for {self.port} ({now - self._lost_at:.0f} s): {exc}")
            return
        self._restore(f"port {self.port} is back after {now - self._lost_at:.1f} s")

    def _on_answering_again(self) -> None:
        states = self.arm.bus.torque_states()
        lost_torque = [n for n, on in states.items() if on is False]
        if self.torque_wanted and lost_torque:
            self._recover_power(lost_torque)
            return
        self._say("info", f"servo bus {self.port} recovered: {self.silent or 'every servo'} answer again")
        self.link, self.detail, self.silent = Link.OK, "", []

    def _check_health(self) -> None:
        alarms = self.arm.alarms()
        for name, what in alarms.items():
            if self._reported_alarms.get(name) != what:
                self._say(
                    "error",
                    f"servo {name} (id {self.arm.bus.motors[name].id}) on {self.port} reports a hardware alarm: "
                    f"{what}. It drops torque until it is rebooted or power-cycled; find the cause (a blocked "
                    "joint, the supply) first",
                )
        self._reported_alarms = alarms
        torque = self.arm.health.get("Torque_Enable", {})
        limp = [n for n, on in torque.items() if not on and n not in alarms]
        if self.torque_wanted and limp:
            self._recover_power(limp)

    def _recover_power(self, limp: list[str]) -> None:
        self._say("warn", f"servos {limp} on {self.port} lost torque (a power dip?): re-checking the arm")
        try:
            self.arm.recheck()
        except PortLostError as exc:
            self._lose_port(time.monotonic(), str(exc))
            return
        except CalibrationError as exc:
            self._fault(f"after the power dip: {exc}")
            return
        except DriverError as exc:
            self.link, self.detail = Link.SILENT, f"recovering from a power dip: {exc}"
            return
        self._restore(f"servos {limp} on {self.port} were power-cycled")

    def _restore(self, what: str) -> None:
        """Goals re-seeded from where the joints are now, torque back on where it was."""
        try:
            if self.torque_wanted:
                self.activate()
        except PortLostError as exc:
            self._lose_port(time.monotonic(), str(exc))
            return
        except BusError as exc:
            self.link, self.detail = Link.SILENT, f"torque on failed: {exc}"
            return
        self.arm.health.clear()  # read before the recovery: stale
        self.recoveries += 1
        self.link, self.detail, self.silent, self._failed_in_a_row = Link.OK, "", [], 0
        torque = "torque on again" if self.torque_wanted else "torque left off"
        self._say("info", f"{what}: models, firmware and calibration re-verified, goals re-seeded, {torque}")

    def _fault(self, why: str) -> None:
        self.link, self.detail = Link.FAULT, why
        self.torque_wanted = False
        try:
            self.arm.deactivate()
        except DriverError as exc:
            why += f" (and the torque-off failed: {exc})"
        self._say("error", f"{why}. Torque stays off; fix it and re-configure the driver")
