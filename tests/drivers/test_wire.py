"""Byte-exact framing, with the packet examples of the servo manuals."""

import pytest

from lerobot_drivers.sim.wire import DynamixelFraming, FeetechFraming, dynamixel_crc, stuff, unstuff


def test_feetech_ping_and_read_examples():
    framing = FeetechFraming()
    assert framing.instruction(1, 0x01, b"") == bytes.fromhex("FF FF 01 02 01 FB")
    assert framing.status(1, 0, b"") == bytes.fromhex("FF FF 01 02 00 FC")
    assert framing.instruction(1, 0x02, bytes([0x38, 0x02])) == bytes.fromhex("FF FF 01 04 02 38 02 BE")
    assert framing.status(1, 0, (2048).to_bytes(2, "little")) == bytes.fromhex("FF FF 01 04 00 00 08 F2")


def test_dynamixel_ping_and_status_examples():
    framing = DynamixelFraming()
    assert framing.instruction(1, 0x01, b"") == bytes.fromhex("FF FF FD 00 01 03 00 01 19 4E")
    status = framing.status(1, 0, (166).to_bytes(4, "little"))
    assert status == bytes.fromhex("FF FF FD 00 01 08 00 55 00 A6 00 00 00 8C C0")


def test_dynamixel_crc_matches_the_manual():
    assert dynamixel_crc(bytes.fromhex("FF FF FD 00 01 03 00 01")) == 0x4E19


def test_byte_stuffing_round_trip():
    payload = bytes.fromhex("03 74 00 FF FF FD 01")
    assert stuff(payload) == bytes.fromhex("03 74 00 FF FF FD FD 01")
    assert unstuff(stuff(payload)) == payload
    framing = DynamixelFraming()
    packet = framing.instruction(1, 0x03, payload[1:])
    parsed = framing.parse(bytearray(packet))
    assert parsed is not None and parsed.params == payload[1:]


@pytest.mark.parametrize("framing", [FeetechFraming(), DynamixelFraming()])
def test_parser_skips_noise_and_corrupt_packets(framing):
    good = framing.instruction(3, 0x02, bytes([56, 0, 2, 0]))
    corrupt = bytearray(good)
    corrupt[-1] ^= 0xFF
    buffer = bytearray(b"\x00\x13" + bytes(corrupt) + good + good[:4])
    parsed = framing.parse(buffer)
    assert parsed is not None and parsed.servo_id == 3 and parsed.instruction == 0x02
    assert framing.parse(buffer) is None  # the trailing partial packet waits for more bytes
    assert bytes(buffer) == good[:4]
