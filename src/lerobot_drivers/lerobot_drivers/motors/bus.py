"""A servo bus over the vendors' official SDKs: one interface for Feetech and Dynamixel.

The SDKs are not thread-safe and have sharp edges (a stuck `is_using` flag after an
exception, `clearPort()` that does not discard stale input, group reads that hand back old
data after a failure); this class owns those: one owner thread per port, bounded retries that
drain the line first, and results that are either fresh or an error.
"""

from __future__ import annotations

import errno
import termios
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, ClassVar

from lerobot_drivers.errors import BusError, MotorMismatchError, PortLostError
from lerobot_drivers.motors.tables import ModelSpec, model

# The port itself failing: pyserial raises SerialException (an OSError) on reads and writes, but
# a bare termios.error (not an OSError) when it flushes a tty that vanished (EIO on unplug).
PORT_FAILURES = (OSError, termios.error)


def interrupted(exc: Exception) -> bool:
    """A signal arrived during the call (EINTR): the port is fine. Python retries most system
    calls itself, but not the termios ones pyserial's flushes make (a second Ctrl-C lands there)."""
    code = exc.errno if isinstance(exc, OSError) else (exc.args[0] if exc.args else None)
    return code == errno.EINTR


COMM_SUCCESS, COMM_PORT_BUSY = 0, -1
COMM_SDK_EXCEPTION = -100  # ours: the SDK raised instead of returning a result


@dataclass(frozen=True)
class Motor:
    id: int
    model: str

    @property
    def spec(self) -> ModelSpec:
        return model(self.model)


class SdkBackend(ABC):
    """What differs between the protocols and their SDKs, behind one shape."""

    protocol: ClassVar[str]
    # Present_Position = actual - homing_sign * Homing_Offset (Feetech subtracts, Dynamixel adds)
    homing_sign: ClassVar[int]
    # the register whose value decides whether EEPROM writes survive a power cycle (0 = they do)
    eeprom_lock: ClassVar[str | None] = None
    # the register holding the servo's hardware alarms, and what its bits mean
    alarm_register: ClassVar[str]
    alarm_bits: ClassVar[dict[int, str]]
    sdk: Any

    def __init__(self, latency_timer_ms: float) -> None:
        self.latency_timer_ms = latency_timer_ms

    def port_handler(self, port: str) -> Any:
        base = self.sdk.PortHandler
        latency = self.latency_timer_ms

        class Port(base):  # type: ignore[misc, valid-type]
            # The SDKs hard-code a 16 ms adapter latency into every timeout; an adapter set to
            # latency_timer=1 (or the simulator) answers in ~1 ms, so waiting 34 ms per lost
            # reply would stall a 200 Hz loop for no reason.
            def setPacketTimeout(self, packet_length: int) -> None:  # noqa: N802 - SDK API
                self.packet_start_time = self.getCurrentTime()
                self.packet_timeout = self.tx_time_per_byte * packet_length + 2 * latency + 2.0

        return Port(port)

    def packet_handler(self, errors: Counter[str]) -> Any:
        """The SDK's PacketHandler, taking as the answer to a read only a status packet that
        carries as many bytes as were asked for. The SDKs match a reply by servo id alone: a
        2-byte position reply that arrives late, while a read of the same servo's 1-byte alarm
        register waits, would be its answer (the position's low byte read as alarm bits). A
        reply of another size is skipped within the same timeout and counted in `errors`."""
        base, parameters = type(self.sdk_handler()), self.reply_parameters

        class Handler(base):  # type: ignore[misc, valid-type]
            expected: int | None = None

            def _asking(self, length: int, call: Any, *args: Any) -> Any:
                self.expected = length
                try:
                    return call(*args)
                finally:
                    self.expected = None

            def readTxRx(self, port: Any, servo_id: int, address: int, length: int) -> Any:  # noqa: N802 - SDK API
                return self._asking(length, super().readTxRx, port, servo_id, address, length)

            def readRx(self, port: Any, servo_id: int, length: int) -> Any:  # noqa: N802 - SDK API
                return self._asking(length, super().readRx, port, servo_id, length)

            def rxPacket(self, port: Any, *args: Any) -> Any:  # noqa: N802 - SDK API
                while True:
                    packet, result = super().rxPacket(port, *args)
                    if result != COMM_SUCCESS or self.expected in (None, parameters(packet)):
                        return packet, result
                    errors["late replies skipped"] += 1

        return Handler()

    @abstractmethod
    def sdk_handler(self) -> Any:
        """The SDK's own PacketHandler for this protocol."""

    @staticmethod
    @abstractmethod
    def reply_parameters(packet: list[int]) -> int:
        """How many data bytes a status packet carries, from its length field."""

    @abstractmethod
    def refusal(self, error: int) -> int:
        """The part of a status packet's error byte that says the instruction was refused
        (0: accepted). The rest reports the servo's hardware state, on every reply."""

    def describe_alarms(self, value: int) -> str:
        names = [name for bit, name in self.alarm_bits.items() if value & bit]
        return ", ".join(names) or (f"alarm bits {value:#04x}" if value else "none")

    @abstractmethod
    def broadcast_ping(self, port: Any, handler: Any) -> dict[int, int]:
        """Every servo that answers a broadcast PING: id -> model number."""


class FeetechBackend(SdkBackend):
    protocol = "feetech"
    homing_sign = 1
    eeprom_lock = "Lock"
    alarm_register = "Status"
    alarm_bits: ClassVar[dict[int, str]] = {
        0x01: "input voltage", 0x02: "angle sensor", 0x04: "overheating", 0x08: "overcurrent", 0x20: "overload",
    }  # fmt: skip

    def __init__(self, latency_timer_ms: float) -> None:
        super().__init__(latency_timer_ms)
        import scservo_sdk

        self.sdk = scservo_sdk

    def sdk_handler(self) -> Any:
        return self.sdk.PacketHandler(0)  # STS: little-endian

    @staticmethod
    def reply_parameters(packet: list[int]) -> int:
        return packet[3] - 2  # FF FF ID LENGTH ERROR data... CHECKSUM; LENGTH counts ERROR to CHECKSUM

    def refusal(self, error: int) -> int:
        return 0  # every bit of an STS status byte is a hardware alarm, none a refusal

    def broadcast_ping(self, port: Any, handler: Any) -> dict[int, int]:
        """scservo_sdk has none: send PING to 0xFE and collect every status until quiet."""
        packet = [0xFF, 0xFF, 0xFE, 0x02, 0x01, 0x00]
        if handler.txPacket(port, packet) != COMM_SUCCESS:
            port.is_using = False
            return {}
        port.is_using = False
        found: dict[int, int] = {}
        while True:
            # the first reply may take a loaded machine a while; later ones follow back to back
            port.setPacketTimeoutMillis(50.0 if not found else 2 * self.latency_timer_ms + 2.0)
            status, result = handler.rxPacket(port)
            if result != COMM_SUCCESS:
                break
            found[status[2]] = 0
        for servo_id in found:
            number, result, _ = handler.read2ByteTxRx(port, servo_id, 3)
            found[servo_id] = number if result == COMM_SUCCESS else -1
        return found


class DynamixelBackend(SdkBackend):
    protocol = "dynamixel"
    homing_sign = -1
    alarm_register = "Hardware_Error_Status"
    alarm_bits: ClassVar[dict[int, str]] = {
        0x01: "input voltage", 0x04: "overheating", 0x08: "motor encoder", 0x10: "electrical shock", 0x20: "overload",
    }  # fmt: skip

    def __init__(self, latency_timer_ms: float) -> None:
        super().__init__(latency_timer_ms)
        import dynamixel_sdk

        self.sdk = dynamixel_sdk

    def sdk_handler(self) -> Any:
        return self.sdk.PacketHandler(2.0)

    @staticmethod
    def reply_parameters(packet: list[int]) -> int:
        return packet[5] + 256 * packet[6] - 4  # LENGTH counts INSTRUCTION, ERROR, data and CRC16

    def refusal(self, error: int) -> int:
        return error & 0x7F  # bits 0-6: the error number; bit 7: the hardware alert flag

    def broadcast_ping(self, port: Any, handler: Any) -> dict[int, int]:
        data, _ = handler.broadcastPing(port)
        return {servo_id: info[0] for servo_id, info in data.items()}


class MotorBus:
    """Servos sharing one serial port; every call must come from the thread that connected."""

    BACKENDS: ClassVar[dict[str, type[SdkBackend]]] = {
        "feetech": FeetechBackend,
        "dynamixel": DynamixelBackend,
    }

    def __init__(
        self,
        port: str,
        motors: dict[str, Motor],
        *,
        protocol: str,
        baudrate: int = 1_000_000,
        retries: int = 2,
        latency_timer_ms: float = 16.0,
    ) -> None:
        if protocol not in self.BACKENDS:
            raise BusError(f"unknown bus protocol {protocol!r}; supported: {sorted(self.BACKENDS)}")
        wrong = {name: m.model for name, m in motors.items() if m.spec.protocol != protocol}
        if wrong:
            raise MotorMismatchError(f"motors {wrong} do not speak the {protocol} protocol of this bus")
        self.port_name = port
        self.motors = dict(motors)
        self.protocol = protocol
        self.baudrate = baudrate
        self.retries = retries
        self.backend = self.BACKENDS[protocol](latency_timer_ms)
        self.errors: Counter[str] = Counter()
        self._port: Any = None
        self._handler: Any = None
        self._owner: int | None = None
        self._last_exception = ""
        self.lost: str | None = None  # why the port stopped working (an unplugged adapter)

    # --- connection ----------------------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        return self._port is not None

    def connect(self) -> None:
        port = self.backend.port_handler(self.port_name)
        try:
            opened = port.openPort()
        except Exception as exc:  # pyserial raises SerialException (an OSError) or ValueError
            raise BusError(self._open_hint(f"{exc}")) from None
        if not opened:
            raise BusError(self._open_hint("the SDK could not open it"))
        try:
            port.setBaudRate(self.baudrate)
        except Exception as exc:
            port.closePort()
            raise BusError(f"cannot set {self.baudrate} baud on {self.port_name}: {exc}") from None
        self._port, self._handler = port, self.backend.packet_handler(self.errors)
        self._owner = threading.get_ident()
        self.lost = None

    def reopen(self) -> None:
        """After the port was lost: drop the dead handle and open the same path again (a
        /dev/serial/by-id/ path survives re-plugging). Raises BusError while it is absent."""
        self._close()
        self.connect()

    def _close(self) -> None:
        if self._port is not None:
            with suppress(Exception):  # a vanished device fails its close too
                self._port.closePort()
        self._port = self._handler = None

    def _open_hint(self, why: str) -> str:
        return (
            f"cannot open servo bus port {self.port_name!r}: {why}. Check the path "
            "(ls /dev/serial/by-id/), that your user may use it (dialout group), and that no other "
            "process (another driver, brltty) holds it"
        )

    def disconnect(self, disable_torque: bool = True) -> dict[str, bool | None]:
        """Torque off on every motor, each tried with retries and read back; the port is closed
        whatever happens. Returns, per motor, whether torque is still on (None: unknown)."""
        if not self.is_connected:
            return {}
        report: dict[str, bool | None] = {}
        try:
            if disable_torque:
                if self.lost is not None:  # the adapter may be back already: one try at the same path
                    with suppress(BusError):
                        self.reopen()
                report = self.torque_off_everywhere()
        finally:
            self._close()
        if any(state is not False for state in report.values()):
            raise BusError(self.torque_report_text(report))
        return report

    def torque_off_everywhere(self) -> dict[str, bool | None]:
        """Every motor gets its torque-off write and a read-back, whatever the others do."""
        for name in self.motors:
            with suppress(Exception):  # one servo, or a dead port, must not spare the rest
                self.write("Torque_Enable", name, 0, retries=5)
        with self.patience(5):  # a read-back lost to a busy moment is not a servo left on
            return self.torque_states()

    def torque_states(self) -> dict[str, bool | None]:
        """Per motor: torque on (True), off (False), or unknown (None: no answer)."""
        states: dict[str, bool | None] = {}
        for name in self.motors:
            try:
                states[name] = bool(self.read("Torque_Enable", name))
            except Exception:
                states[name] = None
        return states

    def torque_report_text(self, report: dict[str, bool | None]) -> str:
        on = [n for n, state in report.items() if state]
        unknown = [n for n, state in report.items() if state is None]
        off = [n for n, state in report.items() if state is False]
        parts = [f"torque off (read back) on {off}"] if off else []
        if on:
            parts.append(f"torque still ON on {on}")
        if unknown:
            parts.append(f"torque state UNKNOWN on {unknown} ({self.lost or 'no answer'})")
        advice = ": cut power to the arm" if on or unknown else ""
        return f"servo bus {self.port_name}: " + "; ".join(parts) + advice

    def __enter__(self) -> MotorBus:
        self.connect()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            self.disconnect()
        except BusError:
            if exc_type is None:
                raise  # otherwise the error already on its way out is the one to see

    # --- the transaction core ------------------------------------------------------------------
    def _check(self) -> None:
        if not self.is_connected:
            raise BusError(f"bus {self.port_name} is not connected: call connect() first")
        if threading.get_ident() != self._owner:
            raise BusError(f"bus {self.port_name} used from a second thread: one owner thread per port")
        if self.lost is not None:
            raise PortLostError(self.lost)

    def _port_lost(self, exc: Exception) -> PortLostError:
        self.lost = (
            f"servo bus port {self.port_name} was lost ({exc}): the adapter was unplugged, lost power or "
            "was taken by another process"
        )
        self.errors["port lost"] += 1
        return PortLostError(self.lost)

    def _recover(self) -> None:
        """After a failed transaction: free the SDK's busy flag and drop late replies."""
        self._port.is_using = False
        time.sleep(0.001)
        self._drain()

    def _drain(self) -> None:
        """Drop whatever waits in the input buffer. The SDKs match a status packet by servo id
        only, not by what was asked: a late reply to an earlier read would be taken as the
        answer to the next one (a 1-byte firmware reply read as a 2-byte homing offset)."""
        serial = getattr(self._port, "ser", None)
        try:
            if serial is not None and serial.in_waiting:
                serial.reset_input_buffer()
                self.errors["late replies dropped"] += 1
        except PORT_FAILURES as exc:
            if not interrupted(exc):  # interrupted: the next transaction drains again
                raise self._port_lost(exc) from None

    def _transact(self, what: str, call: Any, retries: int | None = None) -> Any:
        """Run `call` (returning (value, comm_result, error)) with bounded retries."""
        self._check()
        attempts = 1 + (self.retries if retries is None else retries)
        result = COMM_SUCCESS
        for _ in range(attempts):
            self._drain()
            value, result, error = self._guarded(call)
            if result == COMM_SUCCESS:
                if error:
                    self.errors["servo_error"] += 1
                return value, error
            self.errors[self._describe(result)] += 1
            self._recover()
        raise BusError(
            f"{what} on {self.port_name} failed after {attempts} tries: {self._handler.getTxRxResult(result)}"
        )

    def _guarded(self, call: Any) -> tuple[Any, int, int]:
        """Run one SDK call; an exception inside the SDK (scservo_sdk's ping indexes an empty
        reply when its model-number read times out) is a failed transaction, not a crash. A
        port failure is the port itself failing: no retry can help until it is reopened."""
        try:
            return call()
        except PORT_FAILURES as exc:
            self._port.is_using = False
            if interrupted(exc):  # a failed transaction: retried like any other
                self._last_exception = "interrupted by a signal"
                return None, COMM_SDK_EXCEPTION, 0
            raise self._port_lost(exc) from None
        except (IndexError, ValueError, TypeError) as exc:
            self._last_exception = f"SDK raised {type(exc).__name__}: {exc}"
            return None, COMM_SDK_EXCEPTION, 0

    def _describe(self, result: int) -> str:
        if result == COMM_SDK_EXCEPTION:
            return self._last_exception
        return self._handler.getTxRxResult(result) or f"comm {result}"

    def _id(self, motor: str) -> int:
        try:
            return self.motors[motor].id
        except KeyError:
            raise BusError(f"no motor {motor!r} on this bus; motors: {sorted(self.motors)}") from None

    # --- single servo --------------------------------------------------------------------------
    def ping(self, servo_id: int, retries: int = 0) -> int | None:
        """Model number of the servo at `servo_id`, or None when nothing answers."""
        self._check()
        for _ in range(retries + 1):
            number, result, _ = self._guarded(lambda: self._handler.ping(self._port, servo_id))
            if result == COMM_SUCCESS:
                return number
            self.errors[self._describe(result)] += 1
            self._recover()
        return None

    def read(self, register: str, motor: str) -> int:
        spec = self.motors[motor].spec
        reg = spec.registers[register]
        servo_id = self._id(motor)
        reader = {
            1: self._handler.read1ByteTxRx,
            2: self._handler.read2ByteTxRx,
            4: self._handler.read4ByteTxRx,
        }
        raw, _ = self._transact(
            f"reading {register} of {motor} (id {servo_id})",
            lambda: reader[reg.size](self._port, servo_id, reg.address),
        )
        return spec.decode(register, raw)

    def write(self, register: str, motor: str, value: int, retries: int | None = None) -> None:
        spec = self.motors[motor].spec
        reg = spec.registers[register]
        servo_id = self._id(motor)
        data = spec.encode(register, value).to_bytes(reg.size, "little")
        _, error = self._transact(
            f"writing {register}={value} to {motor} (id {servo_id})",
            lambda: (None, *self._handler.writeTxRx(self._port, servo_id, reg.address, reg.size, list(data))),
            retries,
        )
        if refusal := self.backend.refusal(error):
            raise BusError(
                f"{motor} (id {servo_id}) refused {register}={value}: {self._handler.getRxPacketError(refusal)}"
                " (EEPROM registers need torque off; values must be inside the servo's limits)"
            )

    @contextmanager
    def patience(self, retries: int) -> Iterator[None]:
        """More retries for the block: set-up and checks that stop the arm when one read is
        lost, on a line that may be noisy or a host that may be loaded."""
        saved, self.retries = self.retries, max(self.retries, retries)
        try:
            yield
        finally:
            self.retries = saved

    @contextmanager
    def eeprom_writes(self, motors: Iterable[str] | None = None) -> Iterator[None]:
        """Torque off and, where the protocol has a lock (Feetech's Lock register), unlocked
        for the block, then locked again: EEPROM written while locked is lost at power-off."""
        names = list(self.motors if motors is None else motors)
        self.set_torque(False, names)
        lock = self.backend.eeprom_lock
        if lock is not None:
            for name in names:
                self.write(lock, name, 0)
        try:
            yield
        finally:
            if lock is not None:
                for name in names:
                    self.write(lock, name, 1)

    # --- groups --------------------------------------------------------------------------------
    def sync_read(self, register: str, motors: Iterable[str] | None = None) -> dict[str, int]:
        return self.sync_read_span((register,), motors)[register]

    def sync_read_span(
        self, registers: Sequence[str], motors: Iterable[str] | None = None
    ) -> dict[str, dict[str, int]]:
        """Several neighbouring registers of many servos in ONE transaction (one packet out,
        one status per servo): e.g. position and velocity for the price of one read."""
        names = list(self.motors if motors is None else motors)
        spec = self.motors[names[0]].spec
        regs = {r: spec.registers[r] for r in registers}
        start = min(r.address for r in regs.values())
        length = max(r.address + r.size for r in regs.values()) - start
        group = self.backend.sdk.GroupSyncRead(self._port, self._handler, start, length)
        for name in names:
            group.addParam(self._id(name))

        def call() -> tuple[dict[str, dict[str, int]], int, int]:
            result = group.txRxPacket()
            if result != COMM_SUCCESS:
                return {}, result, 0
            values: dict[str, dict[str, int]] = {r: {} for r in registers}
            for name in names:  # a partial answer is a failure: never hand back stale data
                servo_id = self._id(name)
                if not group.isAvailable(servo_id, start, length):
                    return {}, -3, 0
                for register, reg in regs.items():
                    raw = group.getData(servo_id, reg.address, reg.size)
                    values[register][name] = spec.decode(register, raw)
            return values, COMM_SUCCESS, 0

        values, _ = self._transact(f"sync read of {', '.join(registers)} from {names}", call)
        return values

    def sync_write(self, register: str, values: dict[str, int]) -> None:
        """Goals for many servos in one packet; the protocol gives no acknowledgement."""
        spec = self.motors[next(iter(values))].spec
        reg = spec.registers[register]
        group = self.backend.sdk.GroupSyncWrite(self._port, self._handler, reg.address, reg.size)
        for name, value in values.items():
            group.addParam(self._id(name), list(spec.encode(register, value).to_bytes(reg.size, "little")))
        self._transact(f"sync write of {register}", lambda: (None, group.txPacket(), 0))

    def set_torque(self, enabled: bool, motors: Iterable[str] | None = None, retries: int | None = None) -> None:
        for name in self.motors if motors is None else motors:
            self.write("Torque_Enable", name, int(enabled), retries)

    # --- discovery and set-up ------------------------------------------------------------------
    def broadcast_ping(self) -> dict[int, int]:
        """Every servo answering at the current baud: id -> model number."""
        self._check()
        found = self.backend.broadcast_ping(self._port, self._handler)
        self._recover()
        return found

    def scan(self, bauds: Iterable[int] | None = None) -> dict[int, dict[int, int]]:
        """Servos found at each baud rate: {baud: {id: model number}}; restores the baud."""
        bauds = list(bauds or next(iter(self.motors.values())).spec.bauds)
        found: dict[int, dict[int, int]] = {}
        try:
            for baud in bauds:
                self._port.setBaudRate(baud)
                if servos := self.broadcast_ping():
                    found[baud] = servos
        finally:
            self._port.setBaudRate(self.baudrate)
        return found

    def ping_patiently(self, servo_id: int, patience_s: float = 0.5) -> int | None:
        """`ping`, retried for up to `patience_s`: a bus that has just come up, or a loaded host,
        misses a few replies, and a servo declared absent stops the whole arm."""
        deadline = time.monotonic() + patience_s
        while (number := self.ping(servo_id, retries=2)) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return number

    def verify(self) -> None:
        """Every motor of the profile answers and is the model the profile says."""
        problems = []
        for name, motor in self.motors.items():
            number = self.ping_patiently(motor.id)
            if number is None:
                problems.append(f"{name} (id {motor.id}) does not answer")
            elif number != motor.spec.number:
                problems.append(
                    f"{name} (id {motor.id}) is model {number}, the profile says {motor.model} ({motor.spec.number})"
                )
        if problems:
            raise MotorMismatchError(
                f"servo bus {self.port_name} at {self.baudrate} baud: "
                + "; ".join(problems)
                + ". Check power, cabling and ids (the scan command lists what answers)"
            )

    def firmware_versions(self) -> dict[str, str]:
        """Firmware version of every motor (Feetech: major.minor)."""
        if "Firmware_Major_Version" in next(iter(self.motors.values())).spec.registers:
            major = self.sync_read("Firmware_Major_Version")
            minor = self.sync_read("Firmware_Minor_Version")
            return {name: f"{major[name]}.{minor[name]}" for name in self.motors}
        return {name: str(value) for name, value in self.sync_read("Firmware_Version").items()}

    def verify_firmware(self) -> dict[str, str]:
        """Motors of one model must run the same firmware, as LeRobot requires (a Koch arm mixes
        XL430 and XL330, whose firmware versions differ by model)."""
        versions = self.firmware_versions()
        for model_name in {m.model for m in self.motors.values()}:
            of_model = {n: v for n, v in versions.items() if self.motors[n].model == model_name}
            if len(set(of_model.values())) > 1:
                raise MotorMismatchError(
                    f"the {model_name} motors on {self.port_name} run different firmware versions {of_model}: update "
                    "them to one version (Feetech: FD software; Dynamixel: Dynamixel Wizard) before using the arm"
                )
        return versions

    def setup_motor(self, motor: str, *, current_id: int, current_baud: int) -> None:
        """Give the single servo on the bus its profile id and this bus's baud rate."""
        target = self.motors[motor]
        spec = target.spec
        self._port.setBaudRate(current_baud)
        try:
            number = self.ping(current_id, retries=2)
            if number != spec.number:
                raise MotorMismatchError(
                    f"expected one {target.model} at id {current_id}, {current_baud} baud; found "
                    f"{'nothing' if number is None else f'model {number}'}. Connect only that servo"
                )
            temporary = {**self.motors, "__setup__": Motor(current_id, target.model)}
            self.motors, saved = temporary, self.motors
            try:
                self.write("Torque_Enable", "__setup__", 0)
                if self.backend.eeprom_lock is not None:  # left unlocked: the id must survive power-off
                    self.write(self.backend.eeprom_lock, "__setup__", 0)
                if current_id != target.id:
                    self.write("ID", "__setup__", target.id)
                    temporary["__setup__"] = Motor(target.id, target.model)
                if current_baud != self.baudrate:
                    self.write("Baud_Rate", "__setup__", spec.bauds[self.baudrate])
            finally:
                self.motors = saved
        finally:
            self._port.setBaudRate(self.baudrate)
        if self.ping(target.id, retries=2) != spec.number:
            raise BusError(f"{motor} does not answer at id {target.id}, {self.baudrate} baud after set-up")

    def reboot(self, motor: str) -> None:
        """Clear a Dynamixel hardware error (torque comes back off)."""
        if not hasattr(self._handler, "reboot"):
            raise BusError(f"reboot is not a {self.protocol} instruction; power-cycle the servo instead")
        servo_id = self._id(motor)
        self._transact(f"reboot of {motor}", lambda: (None, *self._handler.reboot(self._port, servo_id)))
