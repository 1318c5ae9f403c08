"""Packet framing of Feetech SCS/STS and Dynamixel Protocol 2.0, for the simulated bus.

The simulator parses instruction packets from the host and frames status packets back;
the host side is always the vendors' SDKs, so these codecs are what makes the simulator
protocol-faithful.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

BROADCAST_ID_FEETECH = 0xFE
BROADCAST_ID_DYNAMIXEL = 0xFE


class Instruction(NamedTuple):
    servo_id: int
    instruction: int
    params: bytes
    size: int  # bytes on the wire, for wire-time accounting


class Framing(Protocol):
    broadcast_id: int

    def parse(self, buffer: bytearray) -> Instruction | None:
        """Take one complete, valid instruction off the front of `buffer` (or None)."""

    def status(self, servo_id: int, error: int, data: bytes) -> bytes: ...

    def instruction(self, servo_id: int, instruction: int, params: bytes) -> bytes: ...


class FeetechFraming:
    """`FF FF ID LEN INST params CHK`, CHK = ~(ID + LEN + INST + params) & 0xFF."""

    broadcast_id = BROADCAST_ID_FEETECH

    @staticmethod
    def checksum(body: bytes) -> int:
        return ~sum(body) & 0xFF

    def instruction(self, servo_id: int, instruction: int, params: bytes) -> bytes:
        body = bytes([servo_id, len(params) + 2, instruction, *params])
        return b"\xff\xff" + body + bytes([self.checksum(body)])

    def status(self, servo_id: int, error: int, data: bytes) -> bytes:
        return self.instruction(servo_id, error, data)  # same framing, ERR where INST was

    def parse(self, buffer: bytearray) -> Instruction | None:
        while True:
            start = buffer.find(b"\xff\xff")
            if start < 0:
                del buffer[: max(len(buffer) - 1, 0)]  # keep a trailing 0xFF
                return None
            del buffer[:start]
            # more 0xFF before the id (0xFF is never a valid id): slide forward
            if len(buffer) >= 3 and buffer[2] == 0xFF:
                del buffer[0]
                continue
            if len(buffer) < 4:
                return None
            total = buffer[3] + 4
            if buffer[3] < 2:
                del buffer[:2]
                continue
            if len(buffer) < total:
                return None
            packet = bytes(buffer[:total])
            if self.checksum(packet[2:-1]) != packet[-1]:
                del buffer[:2]  # resynchronise on the next header
                continue
            del buffer[:total]
            return Instruction(packet[2], packet[4], packet[5:-1], total)


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return table


_CRC_TABLE = _crc_table()


def dynamixel_crc(data: bytes) -> int:
    """CRC-16 (poly 0x8005, init 0, not reflected), over the packet from the first FF."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) ^ _CRC_TABLE[((crc >> 8) ^ byte) & 0xFF]) & 0xFFFF
    return crc


def stuff(payload: bytes) -> bytes:
    """Insert 0xFD after every FF FF FD inside INST..params."""
    return payload.replace(b"\xff\xff\xfd", b"\xff\xff\xfd\xfd")


def unstuff(payload: bytes) -> bytes:
    return payload.replace(b"\xff\xff\xfd\xfd", b"\xff\xff\xfd")


class DynamixelFraming:
    """`FF FF FD 00 ID LEN_L LEN_H INST params CRC_L CRC_H`, LEN = stuffed params + 3."""

    broadcast_id = BROADCAST_ID_DYNAMIXEL
    STATUS = 0x55

    def _frame(self, servo_id: int, payload: bytes) -> bytes:
        payload = stuff(payload)
        length = len(payload) + 2
        head = bytes([0xFF, 0xFF, 0xFD, 0x00, servo_id, length & 0xFF, length >> 8])
        crc = dynamixel_crc(head + payload)
        return head + payload + bytes([crc & 0xFF, crc >> 8])

    def instruction(self, servo_id: int, instruction: int, params: bytes) -> bytes:
        return self._frame(servo_id, bytes([instruction, *params]))

    def status(self, servo_id: int, error: int, data: bytes) -> bytes:
        return self._frame(servo_id, bytes([self.STATUS, error, *data]))

    def parse(self, buffer: bytearray) -> Instruction | None:
        while True:
            start = buffer.find(b"\xff\xff\xfd\x00")
            if start < 0:
                del buffer[: max(len(buffer) - 3, 0)]
                return None
            del buffer[:start]
            if len(buffer) < 7:
                return None
            length = buffer[5] | buffer[6] << 8
            total = 7 + length
            if length < 3:
                del buffer[:4]
                continue
            if len(buffer) < total:
                return None
            packet = bytes(buffer[:total])
            crc = packet[-2] | packet[-1] << 8
            if dynamixel_crc(packet[:-2]) != crc:
                del buffer[:4]
                continue
            del buffer[:total]
            payload = unstuff(packet[7:-2])
            return Instruction(packet[4], payload[0], payload[1:], total)


FRAMINGS: dict[str, type[FeetechFraming] | type[DynamixelFraming]] = {
    "feetech": FeetechFraming,
    "dynamixel": DynamixelFraming,
}
