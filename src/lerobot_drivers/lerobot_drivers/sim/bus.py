"""A simulated servo bus on a pseudo-terminal, speaking Feetech STS or Dynamixel 2.0.

The host opens the pty's slave path like a USB adapter and the vendors' SDKs talk to it
unchanged. The bus answers in list order like a real half-duplex line, applies id and baud
changes after replying, ignores traffic at a baud the servos are not set to, and can
emulate wire time (10 bit times per byte, return delay, USB latency) and inject faults.

Faults of the hardware around the servos too: an adapter unplugged (the pty's master side
closes, so the host's reads and writes fail with EIO as on a vanished USB device) and
plugged back (a new pty, reachable again at the same `link` path, as a /dev/serial/by-id/
link survives re-plugging), and a power dip (every servo silent, then back from a power
cycle: torque off, RAM at factory values, EEPROM as persisted).
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import random
import select
import struct
import termios
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from lerobot_drivers.sim.servo import DXL_INSTRUCTION, SimServo
from lerobot_drivers.sim.wire import FRAMINGS, Instruction

TCGETS2 = 0x802C542A  # Linux ioctl: struct termios2 with the real bit rates


class Plant(Protocol):
    def advance(self, now: float) -> None:
        """Move the servos to where they are at monotonic time `now`."""


@dataclass
class Faults:
    drop_rate: float = 0.0  # a reply is not sent
    corrupt_rate: float = 0.0  # one byte of a reply is flipped
    delay_rate: float = 0.0  # a reply comes `delay_s` late
    delay_s: float = 0.1
    muted: set[int] = field(default_factory=set)  # servos that stopped answering


@dataclass
class WireTiming:
    emulate: bool = False  # serial line time of requests, replies and return delays
    usb_latency_s: float = 0.0  # added once per reply burst (USB adapter latency timer)


@dataclass
class HandMotion:
    """A person moving torque-off joints (a leader arm): slow sines around the start pose."""

    amplitude: float = 300.0  # steps
    period_s: float = 6.0


def line_baud(fd: int) -> int:
    """The bit rate the host set on the pty (standard or custom), as pyserial set it."""
    buf = bytearray(44)
    try:
        fcntl.ioctl(fd, TCGETS2, buf)
        return struct.unpack_from("I", buf, 40)[0]
    except OSError:
        speed = termios.tcgetattr(fd)[5]
        rates = {getattr(termios, name): int(name[1:]) for name in dir(termios) if name[1:].isdigit()}
        return rates.get(speed, 0)


class SimulatedBus:
    def __init__(
        self,
        protocol: str,
        servos: list[SimServo],
        *,
        timing: WireTiming | None = None,
        faults: Faults | None = None,
        hand_motion: HandMotion | None = None,
        seed: int = 0,
        link: Path | None = None,
        plant: Plant | None = None,
    ) -> None:
        self.protocol = protocol
        self.framing = FRAMINGS[protocol]()
        self.servos = servos
        self.timing = timing or WireTiming()
        self.faults = faults or Faults()
        self.hand_motion = hand_motion
        self.plant = plant  # physics that moves the servos instead of their own motion model
        self._home = {id(s): s.actual for s in servos}
        self._rng = random.Random(seed)
        self.lock = threading.RLock()  # held while a packet is handled; take it to poke servos
        self.stats = {"instructions": 0, "replies": 0, "dropped": 0, "corrupted": 0, "ignored_baud": 0}
        self.link = link
        self.plugged = False
        self.powered = True
        self.last_instruction = time.monotonic()
        self._line_free = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()
        self.plug()

    # --- the adapter and the power supply --------------------------------------------------------
    def plug(self) -> None:
        """A new pty (a USB adapter appearing); `link`, if any, points at it."""
        with self.lock:
            if self.plugged:
                return
            self._master, self._slave = os.openpty()
            tty.setraw(self._slave)  # no echo, no line discipline: bytes pass as they are
            self.port = os.ttyname(self._slave)
            if self.link is not None:
                staged = self.link.with_name(f".{self.link.name}.{os.getpid()}")
                staged.unlink(missing_ok=True)
                staged.symlink_to(self.port)
                staged.replace(self.link)  # atomic: the path is never half there
            self.plugged = True

    def unplug(self) -> None:
        """The adapter vanishes: the host's open port fails with EIO, `link` disappears."""
        with self.lock:
            if not self.plugged:
                return
            self.plugged = False
            if self.link is not None:
                self.link.unlink(missing_ok=True)
            for fd in (self._master, self._slave):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def power(self, on: bool) -> None:
        """Cut the servos' supply (they go silent) or restore it (each comes back from a power
        cycle: torque off, EEPROM as persisted)."""
        with self.lock:
            if on and not self.powered:
                for servo in self.servos:
                    servo.power_cycle()
            self.powered = on

    def later(self, seconds: float, action: Callable[[], None]) -> None:
        """Run `action` after `seconds`, off the serving thread (faults that heal by themselves)."""
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        timer.start()

    # --- life cycle ------------------------------------------------------------------------------
    def start(self) -> SimulatedBus:
        self._thread = threading.Thread(target=self._serve, name=f"simbus:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.unplug()

    def __enter__(self) -> SimulatedBus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def path(self) -> str:
        """Where the host opens the bus: the stable link if there is one, else the pty."""
        return str(self.link) if self.link is not None else self.port

    def servo(self, servo_id: int) -> SimServo:
        matches = self._with_id(servo_id)
        if not matches:
            raise KeyError(f"no simulated servo with id {servo_id}")
        return matches[0]

    # --- the line --------------------------------------------------------------------------------
    def _serve(self) -> None:
        buffer = bytearray()
        while not self._stop.is_set():
            if not self.plugged:
                buffer.clear()
                time.sleep(0.01)
                continue
            try:
                ready, _, _ = select.select([self._master], [], [], 0.01 if self.plant else 0.05)
                if not ready:
                    self._idle()
                    continue
                buffer += os.read(self._master, 4096)
            except (OSError, ValueError):
                continue  # unplugged meanwhile: the next round sees it
            while (instruction := self.framing.parse(buffer)) is not None:
                with self.lock:
                    self._handle(instruction)

    def _handle(self, instruction: Instruction) -> None:
        self.stats["instructions"] += 1
        now = self.last_instruction = time.monotonic()
        if not self.powered:
            return
        self._move_hands(now)
        baud = line_baud(self._slave)
        if self.plant is not None:
            self.plant.advance(now)
        else:
            for servo in self.servos:
                servo.update(now)
        listening = [s for s in self.servos if s.spec.bauds.get(baud) == s.get("Baud_Rate")]
        if not listening:
            self.stats["ignored_baud"] += 1
            return
        handler = _DYNAMIXEL if self.protocol == "dynamixel" else _FEETECH
        replies, after = handler(self, instruction, listening)
        self._deliver(instruction.size, replies, baud)
        for action in after:
            action()

    def _with_id(self, servo_id: int, among: list[SimServo] | None = None) -> list[SimServo]:
        return [s for s in (self.servos if among is None else among) if s.servo_id == servo_id]

    def _reply(self, servo: SimServo, error: int, data: bytes = b"") -> bytes | None:
        """One servo's status packet, after mute/drop/corrupt faults."""
        if servo.servo_id in self.faults.muted or self._rng.random() < self.faults.drop_rate:
            self.stats["dropped"] += 1
            return None
        packet = bytearray(self.framing.status(servo.servo_id, error | servo.status_error(), data))
        if self._rng.random() < self.faults.corrupt_rate:
            packet[self._rng.randrange(2, len(packet))] ^= 1 << self._rng.randrange(8)
            self.stats["corrupted"] += 1
        return bytes(packet)

    def _answer(self, servos: list[SimServo], error: int, data: bytes = b"") -> list[bytes]:
        """Replies of every servo holding one id: two servos with one id collide on the wire."""
        packets = [p for s in servos if (p := self._reply(s, error, data)) is not None]
        if len(packets) > 1:  # both drive the line, one a little later: the host reads garbage
            late = b"\xff" + packets[1]
            return [bytes(a & b for a, b in zip(packets[0] + b"\xff", late, strict=False))]
        return packets

    def _deliver(self, request_size: int, replies: list[bytes], baud: int) -> None:
        if not replies:
            if self.timing.emulate:
                self._line_free = max(self._line_free, time.monotonic()) + request_size * 10 / baud
            return
        payload = b"".join(replies)
        self.stats["replies"] += len(replies)
        delay = self.faults.delay_s if self._rng.random() < self.faults.delay_rate else 0.0
        if self.timing.emulate:
            byte_time = 10 / baud
            line = max(self._line_free, time.monotonic()) + request_size * byte_time
            return_delay = 2e-6 * self.servos[0].get("Return_Delay_Time")
            line += len(replies) * return_delay + len(payload) * byte_time
            self._line_free = line
            _sleep_until(line + self.timing.usb_latency_s + delay)
        elif delay:
            time.sleep(delay)
        with contextlib.suppress(OSError):
            os.write(self._master, payload)

    def _idle(self) -> None:
        """A quiet line: physics goes on (the cameras watch it), servos' own motion waits."""
        if self.plant is not None and self.powered:
            with self.lock:
                self.plant.advance(time.monotonic())

    def _move_hands(self, now: float) -> None:
        if self.hand_motion is None:
            return
        phase = 2 * math.pi * (now - self._started) / self.hand_motion.period_s
        for index, servo in enumerate(self.servos):
            if not servo.torque_enabled:
                servo.actual = self._home[id(servo)] + self.hand_motion.amplitude * math.sin(phase + index)


def _sleep_until(deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining > 0.0005:
        time.sleep(remaining - 0.0003)
    while time.monotonic() < deadline:  # the last fraction of a millisecond, spun
        pass


Handled = tuple[list[bytes], list]


def _addressed(bus: SimulatedBus, ins: Instruction, listening: list[SimServo]) -> tuple[bool, list[SimServo]]:
    """Whether the instruction is a broadcast, and the servos it addresses (in id order)."""
    if ins.servo_id == bus.framing.broadcast_id:
        return True, sorted(listening, key=lambda s: s.servo_id)
    return False, bus._with_id(ins.servo_id, listening)


def _feetech(bus: SimulatedBus, ins: Instruction, listening: list[SimServo]) -> Handled:
    broadcast, targets = _addressed(bus, ins, listening)
    p = ins.params
    replies: list[bytes] = []
    after: list = []

    def writes_reply(servo: SimServo) -> bool:
        return not broadcast and servo.get("Response_Status_Level") >= 1

    if ins.instruction == 0x01:  # PING
        groups = [[s] for s in targets] if broadcast else [targets]
        for group in groups:
            replies += bus._answer(group, 0)
    elif ins.instruction == 0x02 and len(p) == 2 and not broadcast:  # READ
        replies += bus._answer(targets, 0, b"".join(s.read(p[0], p[1]) for s in targets[:1]))
    elif ins.instruction in (0x03, 0x04) and p:  # WRITE, REG_WRITE
        for servo in targets:
            if ins.instruction == 0x03:
                after += _apply_write(servo, p[0], p[1:])[1]
            else:
                servo.pending = (p[0], p[1:])  # type: ignore[attr-defined]
        if targets and writes_reply(targets[0]):
            replies += bus._answer(targets, 0)
    elif ins.instruction == 0x05:  # ACTION
        for servo in targets:
            if (pending := getattr(servo, "pending", None)) is not None:
                servo.pending = None  # type: ignore[attr-defined]
                after += _apply_write(servo, *pending)[1]
    elif ins.instruction == 0x82 and len(p) >= 2:  # SYNC_READ: one status per id, in order
        for servo_id in p[2:]:
            group = bus._with_id(servo_id, listening)
            replies += bus._answer(group, 0, group[0].read(p[0], p[1])) if group else []
    elif ins.instruction == 0x83 and len(p) >= 2:  # SYNC_WRITE: no reply
        size = p[1]
        for at in range(2, len(p) - size, size + 1):
            for servo in bus._with_id(p[at], listening):
                after += _apply_write(servo, p[0], p[at + 1 : at + 1 + size])[1]
    return replies, after


def _ping_data(servo: SimServo) -> bytes:
    return servo.get("Model_Number").to_bytes(2, "little") + bytes([servo.get("Firmware_Version")])


def _apply_write(servo: SimServo, address: int, data: bytes) -> tuple[int, list]:
    """Write now and return (error, deferred): an id or baud change takes effect after
    the reply, like the firmware does."""
    regs = servo.spec.registers
    span = range(address, address + len(data))
    deferred = {regs["ID"].address, regs["Baud_Rate"].address} & set(span)
    if not deferred:
        return servo.write(address, data), []
    error = servo.check_write(address, data)
    if error:
        return error, []
    immediate = {a: b for a, b in zip(span, data, strict=True) if a not in deferred}
    for start, chunk in _runs(immediate):
        servo.write(start, chunk)
    later = {a: b for a, b in zip(span, data, strict=True) if a in deferred}
    return 0, [lambda a=a, b=b: servo.write(a, bytes([b])) for a, b in later.items()]


def _runs(values: dict[int, int]) -> list[tuple[int, bytes]]:
    runs: list[tuple[int, bytearray]] = []
    for address in sorted(values):
        if runs and runs[-1][0] + len(runs[-1][1]) == address:
            runs[-1][1].append(values[address])
        else:
            runs.append((address, bytearray([values[address]])))
    return [(a, bytes(b)) for a, b in runs]


def _dynamixel(bus: SimulatedBus, ins: Instruction, listening: list[SimServo]) -> Handled:
    broadcast, targets = _addressed(bus, ins, listening)
    p = ins.params
    replies: list[bytes] = []
    after: list = []
    u16 = lambda at: p[at] | p[at + 1] << 8  # noqa: E731

    def reply_level(servo: SimServo, needed: int) -> bool:
        return not broadcast and servo.get("Status_Return_Level") >= needed

    if ins.instruction == 0x01 and targets:  # PING: model number and firmware
        for group in [[s] for s in targets] if broadcast else [targets]:
            replies += bus._answer(group, 0, _ping_data(group[0]))
    elif ins.instruction == 0x02 and len(p) == 4 and not broadcast:  # READ
        if targets and reply_level(targets[0], 1):
            replies += bus._answer(targets, 0, targets[0].read(u16(0), u16(2)))
    elif ins.instruction == 0x03 and len(p) >= 2:  # WRITE
        error = 0
        for servo in targets:
            error, deferred = _apply_write(servo, u16(0), p[2:])
            after += deferred
        if targets and reply_level(targets[0], 2):
            replies += bus._answer(targets, error)
    elif ins.instruction == 0x08:  # REBOOT
        if targets and not broadcast:
            replies += bus._answer(targets, 0)
        after += [servo.reboot for servo in targets]
    elif ins.instruction == 0x82 and len(p) >= 4:  # SYNC_READ
        for servo_id in p[4:]:
            group = bus._with_id(servo_id, listening)
            replies += bus._answer(group, 0, group[0].read(u16(0), u16(2))) if group else []
    elif ins.instruction == 0x83 and len(p) >= 4:  # SYNC_WRITE
        size = u16(2)
        for at in range(4, len(p) - size, size + 1):
            for servo in bus._with_id(p[at], listening):
                after += _apply_write(servo, u16(0), p[at + 1 : at + 1 + size])[1]
    elif ins.instruction == 0x92:  # BULK_READ: (id, addr, len) per servo
        for at in range(0, len(p) - 4, 5):
            group = bus._with_id(p[at], listening)
            addr, size = p[at + 1] | p[at + 2] << 8, p[at + 3] | p[at + 4] << 8
            replies += bus._answer(group, 0, group[0].read(addr, size)) if group else []
    elif ins.instruction == 0x93:  # BULK_WRITE: (id, addr, len, data) per servo
        at = 0
        while at + 5 <= len(p):
            addr, size = p[at + 1] | p[at + 2] << 8, p[at + 3] | p[at + 4] << 8
            for servo in bus._with_id(p[at], listening):
                after += _apply_write(servo, addr, p[at + 5 : at + 5 + size])[1]
            at += 5 + size
    elif targets and not broadcast:
        replies += bus._answer(targets, DXL_INSTRUCTION)
    return replies, after


_FEETECH = _feetech
_DYNAMIXEL = _dynamixel
