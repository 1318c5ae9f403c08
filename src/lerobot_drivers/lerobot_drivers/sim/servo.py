"""One simulated servo: its control table memory, motion and the rules real ones enforce.

Positions live in raw encoder steps. `actual` is the shaft position before the homing
offset; what the host reads in Present_Position is derived from it like the firmware does
(Feetech: actual - offset, modulo one turn; Dynamixel: actual + offset). Every other
physical quantity (speeds, acceleration, load, current, voltage) goes through the model's
units in the control table, the same table the driver reads them with; that table is held
against the manuals in tests/drivers/test_tables.py.

EEPROM is kept twice: what the servo uses now, and what survives a power cycle. Feetech
servos keep an EEPROM write across power-off only while Lock is 0; Dynamixel servos always
do (they refuse EEPROM writes with torque on instead).
"""

from __future__ import annotations

import math
import time

from lerobot_drivers.motors.tables import ModelSpec

# Dynamixel status error codes (ERR bits 0-6) and the hardware alert flag (bit 7).
DXL_RESULT_FAIL, DXL_INSTRUCTION, DXL_CRC, DXL_DATA_RANGE, DXL_DATA_LENGTH, DXL_DATA_LIMIT, DXL_ACCESS = range(1, 8)
DXL_ALERT = 0x80
DXL_HW_OVERLOAD = 0x20
# Feetech status error bits.
FT_OVERLOAD = 32

# The simulated servos' physics in SI units: supply voltage (V) and the current drawn at
# full load (A, for the models that report current). The registers get them through the
# control table's units, as the driver reads them back.
SUPPLY_V = {"sts3215": 12.0, "xl330-m288": 5.0, "xl330-m077": 5.0, "xl430-w250": 12.0}
FULL_LOAD_A = {"sts3215": 2.7, "xl330-m288": 1.47, "xl330-m077": 1.47}
FULL_LOAD_STEPS = 200.0  # a goal this far from the shaft asks for the maximum torque
AMBIENT_C = 30.0

READ_ONLY_PREFIXES = ("Present_", "Model_Number", "Firmware", "Moving", "Status", "Hardware_Error_Status")


class SimServo:
    def __init__(self, spec: ModelSpec, servo_id: int, position: float = 2048.0) -> None:
        self.spec = spec
        self.memory = bytearray(256)
        self.persisted = bytearray(256)  # the EEPROM a power cycle comes back with
        self.actual = float(position)
        self.velocity = 0.0  # steps/s
        self.hardware_error = 0
        self.external_load: float | None = None  # -1..1, from a physics simulation driving the shaft
        self._last_update = time.monotonic()
        self._read_only = {name for name in spec.registers if any(name.startswith(p) for p in READ_ONLY_PREFIXES)}
        self._eeprom = [reg for reg in spec.registers.values() if reg.eeprom]
        for name, value in spec.defaults.items():
            self.set(name, value)
        self.set("Model_Number", spec.number)
        self.set("ID", servo_id)
        self.set("Goal_Position", self.present_position())
        self._physics_registers()
        self._publish_state()

    # --- register access -------------------------------------------------------------------
    def get(self, name: str) -> int:
        reg = self.spec.registers[name]
        raw = int.from_bytes(self.memory[reg.address : reg.address + reg.size], "little")
        return self.spec.decode(name, raw)

    def set(self, name: str, value: int) -> None:
        """Set a register as the factory or an earlier session left it (EEPROM persists)."""
        reg = self.spec.registers[name]
        raw = self.spec.encode(name, int(value)).to_bytes(reg.size, "little")
        self.memory[reg.address : reg.address + reg.size] = raw
        if reg.eeprom:
            self.persisted[reg.address : reg.address + reg.size] = raw

    def persisted_value(self, name: str) -> int:
        """What `name` will read after the next power cycle."""
        reg = self.spec.registers[name]
        return self.spec.decode(name, int.from_bytes(self.persisted[reg.address : reg.address + reg.size], "little"))

    @property
    def eeprom_locked(self) -> bool:
        return "Lock" in self.spec.registers and self.get("Lock") != 0

    @property
    def servo_id(self) -> int:
        return self.get("ID")

    @property
    def torque_enabled(self) -> bool:
        return bool(self.get("Torque_Enable"))

    def read(self, address: int, length: int) -> bytes:
        """The memory as it is: the bus brings every servo up to date before each instruction."""
        return bytes(self.memory[address : address + length])

    def _touched(self, address: int, length: int) -> list[str]:
        return [
            name
            for name, reg in self.spec.registers.items()
            if reg.address < address + length and address < reg.address + reg.size
        ]

    def check_write(self, address: int, data: bytes) -> int:
        """The protocol error a write would get (0: accepted), without applying it."""
        if address + len(data) > len(self.memory):
            return DXL_DATA_RANGE
        if self.spec.protocol != "dynamixel":
            return 0
        regs = self.spec.registers
        touched = self._touched(address, len(data))
        if any(name in self._read_only for name in touched):
            return DXL_ACCESS
        if self.torque_enabled and any(regs[name].eeprom for name in touched):
            return DXL_ACCESS  # EEPROM is locked while torque is on
        if "Torque_Enable" in touched and self.hardware_error and data[regs["Torque_Enable"].address - address]:
            return DXL_RESULT_FAIL  # torque stays off until REBOOT
        goal = regs["Goal_Position"]
        if "Goal_Position" in touched and self.get("Operating_Mode") == 3 and address == goal.address:
            value = self.spec.decode("Goal_Position", int.from_bytes(data[: goal.size], "little"))
            if not self.get("Min_Position_Limit") <= value <= self.get("Max_Position_Limit"):
                return DXL_DATA_LIMIT
        return 0

    def write(self, address: int, data: bytes) -> int:
        """Apply a host write; return the protocol error code (0 when accepted)."""
        error = self.check_write(address, data)
        if error:
            return error
        if any(name in self._read_only for name in self._touched(address, len(data))):
            return 0  # Feetech ignores writes to read-only registers
        self.memory[address : address + len(data)] = data
        if not self.eeprom_locked:
            for reg in self._eeprom:
                if reg.address < address + len(data) and address < reg.address + reg.size:
                    self.persisted[reg.address : reg.address + reg.size] = self.memory[
                        reg.address : reg.address + reg.size
                    ]
        if not self.torque_enabled:
            self.velocity = 0.0
        return 0

    # --- position model ------------------------------------------------------------------------
    def present_position(self) -> int:
        offset = self.get("Homing_Offset")
        if self.spec.protocol == "feetech":
            return round(self.actual - offset) % self.spec.resolution
        return round(self.actual + offset)

    def _position_error(self) -> float:
        """Goal minus position, steps, in the frame the position loop runs in.

        Feetech firmware applies the homing offset to the encoder before its position loop:
        goal and position share the corrected single-turn frame (0..4095), so the shaft moves
        within it and never across its 0/4095 seam, wherever the shaft's own seam lies (a
        calibration can put it inside a joint's range). Dynamixel's frame is the shaft's plus
        the offset, with no seam in extended position mode.
        """
        goal, offset = self.get("Goal_Position"), self.get("Homing_Offset")
        if self.spec.protocol == "feetech":
            return goal - (self.actual - offset) % self.spec.resolution
        return goal - offset - self.actual

    def _steps(self, register: str) -> float:
        """A speed or acceleration register in steps/s (or steps/s^2): its SI value per radian."""
        return abs(self.spec.to_si(register, self.get(register))) * self.spec.resolution / (2 * math.pi)

    def _speed_limit(self) -> float:
        register = "Goal_Velocity" if self.spec.protocol == "feetech" else "Profile_Velocity"  # 0 = no limit
        limit = self._steps(register)
        return min(limit, self.spec.max_speed) if limit else self.spec.max_speed

    def _acceleration_limit(self) -> float:
        register = "Acceleration" if self.spec.protocol == "feetech" else "Profile_Acceleration"  # 0 = no limit
        return self._steps(register) or math.inf

    def update(self, now: float | None = None) -> None:
        """Advance the motion to `now`: track the goal under velocity/acceleration limits."""
        now = time.monotonic() if now is None else now
        elapsed = now - self._last_update
        self._last_update = now
        if self.torque_enabled and not self.hardware_error:
            while elapsed > 0:  # sub-steps keep the acceleration profile right between reads
                dt = min(elapsed, 0.005)
                elapsed -= dt
                self._integrate(dt)
        else:
            self.velocity = 0.0
        self._publish_state()

    def _integrate(self, dt: float) -> None:
        error = self._position_error()
        target = self.actual + error
        if abs(error) < 0.5 and abs(self.velocity) < 1.0:
            self.actual, self.velocity = target, 0.0
            return
        v_max = self._speed_limit()
        a_max = self._acceleration_limit()
        # the speed that still allows stopping at the target, capped by the profile speed
        v_stop = math.sqrt(2 * a_max * abs(error)) if math.isfinite(a_max) else v_max
        v_want = math.copysign(min(v_max, v_stop, abs(error) / dt), error)
        dv = v_want - self.velocity
        if math.isfinite(a_max):
            dv = max(-a_max * dt, min(a_max * dt, dv))
        self.velocity += dv
        step = self.velocity * dt
        self.actual = target if abs(step) >= abs(error) and step * error > 0 else self.actual + step

    def _publish_state(self) -> None:
        self.set("Present_Position", self.present_position())
        vmax = (1 << 15) - 1
        velocity = self.spec.from_si("Present_Velocity", self.velocity * 2 * math.pi / self.spec.resolution)
        self.set("Present_Velocity", max(-vmax, min(vmax, velocity)))
        self._publish_load()
        moving = abs(self.velocity) > 1e-3 or (self.torque_enabled and abs(self._position_error()) >= 0.5)
        self.set("Moving", int(moving))
        if self.spec.protocol == "dynamixel":
            self.set("Hardware_Error_Status", self.hardware_error)
        else:
            self.set("Status", FT_OVERLOAD if self.hardware_error else 0)

    def _physics_registers(self) -> None:
        """Supply voltage and temperature (constant here), written once; and, per load or current
        register, the raw counts of full load, so a cycle only scales the load."""
        units = self.spec.units
        for register in ("Present_Voltage", "Present_Input_Voltage"):
            if register in units:
                self.set(register, self.spec.from_si(register, SUPPLY_V[self.spec.name]))
        self.set("Present_Temperature", self.spec.from_si("Present_Temperature", AMBIENT_C))
        self._load_counts = []
        for register in ("Present_Load", "Present_Current"):
            if register in units:
                full = 1.0 if units[register].si == "1" else FULL_LOAD_A[self.spec.name]
                reg = self.spec.registers[register]
                self._load_counts.append(
                    (register, full / units[register].scale, reg.sign_bit is None and not reg.signed)
                )

    def _publish_load(self) -> None:
        holding = self.torque_enabled and not self.hardware_error
        if self.external_load is not None:
            load = self.external_load if holding else 0.0
        else:
            load = max(-1.0, min(1.0, self._position_error() / FULL_LOAD_STEPS)) if holding else 0.0
        for register, full_counts, unsigned in self._load_counts:
            self.set(register, round(abs(load) * full_counts if unsigned else load * full_counts))

    # --- faults and the outside world ----------------------------------------------------------
    def move_by_hand(self, present_position: float) -> None:
        """Put the shaft where the host would then read `present_position` (torque off)."""
        offset = self.get("Homing_Offset")
        self.actual = present_position + offset if self.spec.protocol == "feetech" else present_position - offset
        self._publish_state()

    def follow(self, present_position: float, velocity: float, load: float) -> None:
        """Where a physics simulation moved the shaft (present-position steps, not wrapped), at
        `velocity` steps/s under `load` (-1..1): it replaces this servo's own motion model."""
        self.velocity, self.external_load = velocity, load
        self.move_by_hand(present_position)

    def raise_hardware_error(self, bits: int = DXL_HW_OVERLOAD) -> None:
        """Overload and the like: the servo drops torque until it is rebooted."""
        self.hardware_error |= bits
        self.set("Torque_Enable", 0)
        self.velocity = 0.0
        self._publish_state()

    def reboot(self) -> None:
        self.hardware_error = 0
        self.set("Torque_Enable", 0)
        self._publish_state()

    def power_cycle(self) -> None:
        """Power off and on: RAM back to factory values (torque off, Lock set), EEPROM back to
        what was persisted, the shaft where it was."""
        self.memory = bytearray(self.persisted)
        for name, value in self.spec.defaults.items():
            if not self.spec.registers[name].eeprom:
                self.set(name, value)
        self.hardware_error = 0
        self.velocity = 0.0
        self.set("Goal_Position", self.present_position())
        self._last_update = time.monotonic()
        self._physics_registers()
        self._publish_state()

    def status_error(self) -> int:
        """The error byte of this servo's status packets."""
        if self.spec.protocol == "dynamixel":
            return DXL_ALERT if self.hardware_error else 0
        return FT_OVERLOAD if self.hardware_error else 0
