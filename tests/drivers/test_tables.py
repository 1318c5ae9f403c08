"""The control tables' units against the manuals, and the simulator's motion against them.

The driver and the simulator read one table (`motors/tables.py`); a wrong unit there would be
wrong in both and every other test would agree with it. So the manuals' numbers are written
out here once more, as the manuals state them, and the simulator's velocity is also checked
against the position it reports over real time, which no table can fake.
"""

import math
import time

import pytest

from lerobot_drivers.motors.bus import Motor, MotorBus
from lerobot_drivers.motors.tables import model
from lerobot_drivers.sim.bus import SimulatedBus
from lerobot_drivers.sim.servo import SimServo

RPM = 2 * math.pi / 60

# (model, register, raw value, the manual's physical value, SI unit)
MANUAL = [
    # Feetech STS3215 memory table: speed in step/s at 4096 steps a turn ("50 step/s = 0.732 RPM"),
    # acceleration in 100 step/s^2, load in 0.1 %, voltage in 0.1 V, current in 6.5 mA.
    ("sts3215", "Present_Velocity", 50, 0.732 * RPM, "rad/s"),
    ("sts3215", "Goal_Velocity", 4096, 2 * math.pi, "rad/s"),
    ("sts3215", "Acceleration", 1, 100 * 2 * math.pi / 4096, "rad/s^2"),
    ("sts3215", "Present_Load", 1000, 1.0, "1"),
    ("sts3215", "Present_Voltage", 120, 12.0, "V"),
    ("sts3215", "Present_Current", 100, 0.65, "A"),
    ("sts3215", "Present_Temperature", 45, 45.0, "degC"),
    # ROBOTIS XL330-M288 / -M077 e-manual: velocity 0.229 rev/min, current 1 mA, voltage 0.1 V,
    # profile acceleration 214.577 rev/min^2.
    ("xl330-m288", "Present_Velocity", 100, 22.9 * RPM, "rad/s"),
    ("xl330-m288", "Profile_Velocity", 445, 101.905 * RPM, "rad/s"),
    ("xl330-m288", "Profile_Acceleration", 1, 214.577 * RPM / 60, "rad/s^2"),
    ("xl330-m288", "Present_Current", 1750, 1.75, "A"),
    ("xl330-m288", "Present_Input_Voltage", 50, 5.0, "V"),
    ("xl330-m077", "Present_Velocity", 1, 0.229 * RPM, "rad/s"),
    ("xl330-m077", "Present_Current", 1, 0.001, "A"),
    # XL430-W250: address 126 is Present_Load in 0.1 %, velocity 0.229 rev/min, voltage 0.1 V.
    ("xl430-w250", "Present_Velocity", -100, -22.9 * RPM, "rad/s"),
    ("xl430-w250", "Present_Current", 1000, 1.0, "1"),
    ("xl430-w250", "Present_Input_Voltage", 120, 12.0, "V"),
    ("xl430-w250", "Present_Temperature", 72, 72.0, "degC"),
]


@pytest.mark.parametrize(("name", "register", "raw", "physical", "si"), MANUAL)
def test_units_are_the_manuals(name, register, raw, physical, si):
    spec = model(name)
    assert spec.units[register].si == si
    assert spec.to_si(register, raw) == pytest.approx(physical, rel=1e-3)
    assert spec.from_si(register, physical) == raw


def test_dynamixel_velocity_is_15_6_times_coarser_than_feetech():
    """The Koch bug this table fixes: one unit is 0.229 rev/min, not one step per second."""
    ratio = model("xl330-m288").to_si("Present_Velocity", 1) / model("sts3215").to_si("Present_Velocity", 1)
    assert ratio == pytest.approx(0.229 / 60 * 4096, rel=1e-6)
    assert ratio == pytest.approx(15.63, abs=0.01)


@pytest.mark.parametrize("name", ["sts3215", "xl330-m288", "xl430-w250"])
def test_reported_velocity_is_the_derivative_of_the_reported_position(name):
    """Move a simulated servo at its speed limit and compare Present_Velocity, in rad/s through
    the table, with the change of Present_Position over wall-clock time."""
    spec = model(name)
    servo = SimServo(spec, 1, position=200)
    baud = spec.bauds[1_000_000]
    servo.set("Baud_Rate", baud)
    if spec.protocol == "dynamixel":
        servo.set("Operating_Mode", 4)  # extended position: no position limits
    with SimulatedBus(spec.protocol, [servo]) as sim:
        bus = MotorBus(sim.port, {"j": Motor(1, name)}, protocol=spec.protocol)
        with bus:
            bus.set_torque(True)
            bus.write("Goal_Position", "j", 3900)
            time.sleep(0.3)  # past the acceleration phase
            first = bus.sync_read_span(("Present_Position", "Present_Velocity"))
            t0 = time.monotonic()
            time.sleep(0.25)
            second = bus.sync_read_span(("Present_Position", "Present_Velocity"))
            elapsed = time.monotonic() - t0
    derivative = (second["Present_Position"]["j"] - first["Present_Position"]["j"]) * 2 * math.pi / 4096 / elapsed
    reported = spec.to_si("Present_Velocity", second["Present_Velocity"]["j"])
    assert derivative > 1.0, "the servo did not move"
    assert reported == pytest.approx(derivative, rel=0.1)


def test_a_feetech_goal_moves_within_the_offset_frame_never_across_its_seam():
    """Present = (actual - Homing_Offset) mod 4096 (servo-bus notes), and the firmware's position
    loop runs in that corrected frame: a goal 28 steps away is 28 steps of travel even where the
    shaft's own 0/4095 seam lies between them (the simulated SO-101 gripper's calibration puts it
    there; the simulator once swung the long way round, and a recorded episode showed it)."""
    servo = SimServo(model("sts3215"), 1)
    servo.set("Homing_Offset", 1407)
    servo.move_by_hand(2680)  # shaft at 4087
    servo.set("Torque_Enable", 1)
    servo.set("Goal_Position", 2740)  # shaft at 4147 = 51 past its seam
    start = time.monotonic()
    positions = []
    for k in range(1, 200):
        servo.update(start + k * 0.005)
        positions.append(servo.present_position())
    assert positions[-1] == 2740 and min(positions) >= 2680 and max(positions) <= 2740
