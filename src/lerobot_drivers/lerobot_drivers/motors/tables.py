"""Control tables of the supported servo models: the one source of truth for register
addresses, sizes, encodings and units, used by the real bus and by the simulated one alike.

Numbers from the Feetech STS3215 memory table and the ROBOTIS XL330-M288, XL330-M077 and
XL430-W250 e-manuals (addresses also as in LeRobot's tables). tests/drivers/test_tables.py
holds the units against the manuals' values written out separately.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Protocol = Literal["feetech", "dynamixel"]


@dataclass(frozen=True)
class Register:
    address: int
    size: int
    # Feetech stores signed values as sign-magnitude with this sign bit; Dynamixel uses
    # two's complement when `signed` is set. None/False: unsigned.
    sign_bit: int | None = None
    signed: bool = False
    eeprom: bool = False


class Unit(NamedTuple):
    """What one count of a register is worth in SI (REP-103) units."""

    scale: float
    si: str  # "rad/s", "A", "V", "degC", or "1" for a fraction of the maximum torque


RPM = 2 * math.pi / 60  # rad/s per rev/min


@dataclass(frozen=True)
class ModelSpec:
    name: str
    number: int
    protocol: Protocol
    registers: dict[str, Register]
    bauds: dict[int, int]  # baud rate (bit/s) -> value of the Baud_Rate register
    units: dict[str, Unit]  # the registers the driver reads as physical quantities
    resolution: int = 4096
    max_speed: float = 3400.0  # steps/s when no velocity limit is set
    defaults: dict[str, int] = field(default_factory=dict)  # factory values

    def to_si(self, register: str, value: int) -> float:
        return value * self.units[register].scale

    def from_si(self, register: str, value: float) -> int:
        return round(value / self.units[register].scale)

    def encode(self, register: str, value: int) -> int:
        """Host integer -> raw register value."""
        reg = self.registers[register]
        if reg.sign_bit is not None:
            magnitude = abs(int(value))
            if magnitude >= 1 << reg.sign_bit:
                raise ValueError(f"{value} does not fit {register} ({reg.sign_bit} magnitude bits)")
            return magnitude | (1 << reg.sign_bit) if value < 0 else magnitude
        bits = 8 * reg.size
        if reg.signed:
            if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
                raise ValueError(f"{value} does not fit {register} (signed {bits}-bit)")
            return int(value) & ((1 << bits) - 1)
        if not 0 <= value < 1 << bits:
            raise ValueError(f"{value} does not fit {register} (unsigned {bits}-bit)")
        return int(value)

    def decode(self, register: str, raw: int) -> int:
        """Raw register value -> host integer."""
        reg = self.registers[register]
        if reg.sign_bit is not None:
            magnitude = raw & ((1 << reg.sign_bit) - 1)
            return -magnitude if raw & (1 << reg.sign_bit) else magnitude
        bits = 8 * reg.size
        if reg.signed and raw & (1 << (bits - 1)):
            return raw - (1 << bits)
        return raw


def _r(address: int, size: int = 1, **kwargs: object) -> Register:
    return Register(address, size, **kwargs)  # type: ignore[arg-type]


STS_REGISTERS: dict[str, Register] = {
    "Firmware_Major_Version": _r(0, eeprom=True),
    "Firmware_Minor_Version": _r(1, eeprom=True),
    "Model_Number": _r(3, 2, eeprom=True),
    "ID": _r(5, eeprom=True),
    "Baud_Rate": _r(6, eeprom=True),
    "Return_Delay_Time": _r(7, eeprom=True),
    "Response_Status_Level": _r(8, eeprom=True),
    "Min_Position_Limit": _r(9, 2, eeprom=True),
    "Max_Position_Limit": _r(11, 2, eeprom=True),
    "Max_Temperature_Limit": _r(13, eeprom=True),
    "Max_Voltage_Limit": _r(14, eeprom=True),
    "Min_Voltage_Limit": _r(15, eeprom=True),
    "Max_Torque_Limit": _r(16, 2, eeprom=True),
    "Phase": _r(18, eeprom=True),
    "P_Coefficient": _r(21, eeprom=True),
    "D_Coefficient": _r(22, eeprom=True),
    "I_Coefficient": _r(23, eeprom=True),
    "Homing_Offset": _r(31, 2, sign_bit=11, eeprom=True),
    "Operating_Mode": _r(33, eeprom=True),
    "Torque_Enable": _r(40),
    "Acceleration": _r(41),
    "Goal_Position": _r(42, 2, sign_bit=15),
    "Goal_Time": _r(44, 2),
    "Goal_Velocity": _r(46, 2, sign_bit=15),
    "Torque_Limit": _r(48, 2),
    "Lock": _r(55),
    "Present_Position": _r(56, 2, sign_bit=15),
    "Present_Velocity": _r(58, 2, sign_bit=15),
    "Present_Load": _r(60, 2, sign_bit=10),
    "Present_Voltage": _r(62),
    "Present_Temperature": _r(63),
    "Status": _r(65),
    "Moving": _r(66),
    "Present_Current": _r(69, 2),
    "Maximum_Acceleration": _r(85),
}

# Protocol 2.0 X series (XL330 and XL430 share the layout).
X_REGISTERS: dict[str, Register] = {
    "Model_Number": _r(0, 2, eeprom=True),
    "Firmware_Version": _r(6, eeprom=True),
    "ID": _r(7, eeprom=True),
    "Baud_Rate": _r(8, eeprom=True),
    "Return_Delay_Time": _r(9, eeprom=True),
    "Drive_Mode": _r(10, eeprom=True),
    "Operating_Mode": _r(11, eeprom=True),
    "Homing_Offset": _r(20, 4, signed=True, eeprom=True),
    "Temperature_Limit": _r(31, eeprom=True),
    "Max_Voltage_Limit": _r(32, 2, eeprom=True),
    "Min_Voltage_Limit": _r(34, 2, eeprom=True),
    "Current_Limit": _r(38, 2, eeprom=True),
    "Max_Position_Limit": _r(48, 4, eeprom=True),
    "Min_Position_Limit": _r(52, 4, eeprom=True),
    "Torque_Enable": _r(64),
    "Status_Return_Level": _r(68),
    "Hardware_Error_Status": _r(70),
    "Position_D_Gain": _r(80, 2),
    "Position_I_Gain": _r(82, 2),
    "Position_P_Gain": _r(84, 2),
    "Goal_Current": _r(102, 2, signed=True),
    "Goal_Velocity": _r(104, 4, signed=True),
    "Profile_Acceleration": _r(108, 4),
    "Profile_Velocity": _r(112, 4),
    "Goal_Position": _r(116, 4, signed=True),
    "Moving": _r(122),
    "Present_Current": _r(126, 2, signed=True),
    "Present_Velocity": _r(128, 4, signed=True),
    "Present_Position": _r(132, 4, signed=True),
    "Present_Input_Voltage": _r(144, 2),
    "Present_Temperature": _r(146),
}

FEETECH_BAUDS = {1_000_000: 0, 500_000: 1, 250_000: 2, 128_000: 3, 115_200: 4, 57_600: 5, 38_400: 6}
DYNAMIXEL_BAUDS = {9_600: 0, 57_600: 1, 115_200: 2, 1_000_000: 3, 2_000_000: 4, 3_000_000: 5, 4_000_000: 6}

XL330_DEFAULTS = {
    "Firmware_Version": 48, "Baud_Rate": 1, "Return_Delay_Time": 250, "Operating_Mode": 3,
    "Max_Position_Limit": 4095, "Temperature_Limit": 70, "Max_Voltage_Limit": 70, "Min_Voltage_Limit": 35,
    "Current_Limit": 1750, "Status_Return_Level": 2, "Position_P_Gain": 400, "Position_D_Gain": 0,
}  # fmt: skip

# STS3215: speed in steps/s (4096 a turn), acceleration in 100 steps/s^2, load in 0.1 % of
# the maximum torque, voltage in 0.1 V, current in 6.5 mA, temperature in degrees Celsius.
STS_UNITS = {
    "Present_Velocity": Unit(2 * math.pi / 4096, "rad/s"),
    "Goal_Velocity": Unit(2 * math.pi / 4096, "rad/s"),
    "Acceleration": Unit(100 * 2 * math.pi / 4096, "rad/s^2"),
    "Present_Load": Unit(0.001, "1"),
    "Present_Voltage": Unit(0.1, "V"),
    "Present_Current": Unit(0.0065, "A"),
    "Present_Temperature": Unit(1.0, "degC"),
}
# X series: velocities in 0.229 rev/min, profile acceleration in 214.577 rev/min^2, input
# voltage in 0.1 V, temperature in degrees Celsius. Address 126 is Present_Current on the
# XL330 (1 mA) but Present_Load on the XL430 (0.1 % of the maximum torque); LeRobot names it
# Present_Current for both.
X_UNITS = {
    "Present_Velocity": Unit(0.229 * RPM, "rad/s"),
    "Profile_Velocity": Unit(0.229 * RPM, "rad/s"),
    "Profile_Acceleration": Unit(214.577 * RPM / 60, "rad/s^2"),
    "Present_Input_Voltage": Unit(0.1, "V"),
    "Present_Temperature": Unit(1.0, "degC"),
}
XL330_UNITS = {**X_UNITS, "Present_Current": Unit(0.001, "A")}
XL430_UNITS = {**X_UNITS, "Present_Current": Unit(0.001, "1")}

MODELS: dict[str, ModelSpec] = {
    "sts3215": ModelSpec(
        "sts3215", 777, "feetech", STS_REGISTERS, FEETECH_BAUDS, STS_UNITS, max_speed=3400.0,
        defaults={"Firmware_Major_Version": 3, "Firmware_Minor_Version": 10, "Baud_Rate": 0,
                  "Return_Delay_Time": 0, "Response_Status_Level": 1, "Max_Position_Limit": 4095,
                  "Max_Temperature_Limit": 70, "Max_Voltage_Limit": 140, "Min_Voltage_Limit": 40,
                  "Max_Torque_Limit": 1000, "P_Coefficient": 32, "I_Coefficient": 0, "D_Coefficient": 32,
                  "Torque_Limit": 1000, "Lock": 1,
                  "Maximum_Acceleration": 254},
    ),
    "xl330-m288": ModelSpec("xl330-m288", 1200, "dynamixel", X_REGISTERS, DYNAMIXEL_BAUDS, XL330_UNITS,
                            max_speed=3900.0, defaults=XL330_DEFAULTS),
    "xl330-m077": ModelSpec("xl330-m077", 1190, "dynamixel", X_REGISTERS, DYNAMIXEL_BAUDS, XL330_UNITS,
                            max_speed=5400.0, defaults=XL330_DEFAULTS),
    "xl430-w250": ModelSpec(
        "xl430-w250", 1060, "dynamixel", X_REGISTERS, DYNAMIXEL_BAUDS, XL430_UNITS, max_speed=3500.0,
        defaults={"Firmware_Version": 46, "Baud_Rate": 1, "Return_Delay_Time": 250, "Operating_Mode": 3,
                  "Max_Position_Limit": 4095, "Temperature_Limit": 72, "Max_Voltage_Limit": 140,
                  "Min_Voltage_Limit": 60, "Status_Return_Level": 2, "Position_P_Gain": 640,
                  "Position_D_Gain": 4000},
    ),
}  # fmt: skip

MODELS_BY_NUMBER: dict[int, ModelSpec] = {spec.number: spec for spec in MODELS.values()}

# The registers a driver reads every cycle.
STATE_REGISTERS = ("Present_Position", "Present_Velocity")


def model(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown servo model {name!r}; supported: {sorted(MODELS)}") from None
