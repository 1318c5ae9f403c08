"""The arm core on an in-process simulated bus: set-up, calibration checks, safety rules."""

import itertools
import math
import time
from dataclasses import replace
from pathlib import Path

import pytest

from lerobot_drivers.arm import Arm, CommandError
from lerobot_drivers.calibration import load_calibration, radian_limits
from lerobot_drivers.errors import BusError, CalibrationError, MotorMismatchError
from lerobot_drivers.profile import load_profile
from lerobot_drivers.sim.bus import SimulatedBus
from lerobot_drivers.sim.cli import servos_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["so101_follower_sim.yaml", "koch_follower_sim.yaml"])
def profile(request):
    loaded = load_profile(ROOT / "config" / request.param)
    return replace(loaded, bus=replace(loaded.bus, latency_timer_ms=16.0))


@pytest.fixture
def sim(profile):
    with SimulatedBus(profile.bus.protocol, servos_for(profile)) as bus:
        yield bus


@pytest.fixture
def arm(profile, sim):
    arm = Arm(profile, sim.port)
    arm.connect()
    yield arm
    arm.disconnect()


def test_servo_setup_is_written_once(profile, sim, arm):
    for joint, registers in profile.setup_values().items():
        servo = sim.servo(profile.motors()[joint].id)
        assert {r: servo.get(r) for r in registers} == registers
    arm.disconnect()
    before = sim.stats["instructions"]
    arm.connect()
    writes = sim.stats["instructions"] - before
    firmware_reads = 2 if profile.bus.protocol == "feetech" else 1
    reads_only = 1 + len(profile.joints) * 2 + firmware_reads + sum(len(v) for v in profile.setup_values().values())
    assert writes <= reads_only, "nothing changed, so configure must not write the servos again"


def test_activate_holds_the_present_pose_then_torques_on(arm, sim):
    state = arm.activate()
    assert all(abs(v) < 0.01 for v in state.positions.values())
    assert all(s.torque_enabled for s in sim.servos)
    assert arm.goal == state.positions


def test_nan_and_unknown_joints_are_refused_whole(arm):
    arm.activate()
    before = dict(arm.target)
    with pytest.raises(CommandError, match="non-finite"):
        arm.command({"shoulder_pan": 0.2, "elbow_flex": math.inf})
    with pytest.raises(CommandError, match=r"unknown joints \['tail'\]"):
        arm.command({"tail": 0.1})
    with pytest.raises(CommandError, match="expected 6 values"):
        arm.command_vector([0.1, 0.2])
    assert arm.target == before


def test_targets_are_clamped_and_steps_limited(arm, profile):
    arm.activate()
    calibration = load_calibration(profile.calibration)
    arm.command({"shoulder_pan": 100.0}, now=0.0)
    assert arm.target["shoulder_pan"] == pytest.approx(radian_limits(calibration["shoulder_pan"])[1])
    start = arm.goal["shoulder_pan"]
    arm.cycle(now=0.01)
    assert arm.goal["shoulder_pan"] - start == pytest.approx(profile.control.max_step_rad)


def test_stale_command_holds(arm, profile):
    arm.activate()
    arm.command({"elbow_flex": 1.0}, now=0.0)
    arm.cycle(now=0.01)
    held = dict(arm.goal)
    arm.cycle(now=profile.control.command_timeout_s + 0.1)
    assert arm.goal == held


def test_calibration_mismatch_is_refused_then_written_on_request(profile, sim):
    sim.servo(3).set("Homing_Offset", 5)
    arm = Arm(profile, sim.port)
    with pytest.raises(CalibrationError, match=r"do not hold the calibration .*elbow_flex: servo 5, file"):
        arm.connect()
    assert not arm.bus.is_connected
    arm.connect(write_calibration=True)
    assert sim.servo(3).get("Homing_Offset") == load_calibration(profile.calibration)["elbow_flex"].homing_offset
    arm.disconnect()


def test_disconnect_turns_torque_off(arm, sim):
    arm.activate()
    arm.disconnect()
    assert not any(s.torque_enabled for s in sim.servos)


def test_mixed_firmware_is_refused(profile, sim):
    register = "Firmware_Minor_Version" if profile.bus.protocol == "feetech" else "Firmware_Version"
    sim.servo(4).set(register, 99)  # wrist_flex: the same model as its neighbours on both arms
    arm = Arm(profile, sim.port)
    with pytest.raises(MotorMismatchError, match="run different firmware versions"):
        arm.connect()
    assert not arm.bus.is_connected and not any(s.torque_enabled for s in sim.servos)


def test_velocity_is_the_rate_of_change_of_the_position(arm, profile):
    """rad/s through each model's unit (Dynamixel counts 0.229 rev/min, Feetech steps/s): the
    reported velocity, integrated over the move, is the distance the position moved."""
    start = arm.activate().positions["elbow_flex"]  # where it was before the command
    arm.command({"elbow_flex": 0.8})
    samples = []
    deadline = time.monotonic() + 5.0  # on a busy machine the move takes longer than its nominal second
    while time.monotonic() < deadline:
        arm.last_command_time = time.monotonic()
        if (state := arm.cycle()) is not None:
            samples.append((time.monotonic(), state.positions["elbow_flex"], state.velocities["elbow_flex"]))
            if abs(samples[-1][1] - 0.8) < 0.005 and abs(samples[-1][2]) < 0.01:
                break  # arrived and at rest
        time.sleep(0.002)
    integral = sum((t1 - t0) * (v0 + v1) / 2 for (t0, _, v0), (t1, _, v1) in itertools.pairwise(samples))
    assert samples[-1][1] - start == pytest.approx(0.8, abs=0.02)  # on a loaded machine the first sample is late
    assert integral == pytest.approx(samples[-1][1] - samples[0][1], rel=0.15)


def test_calibration_written_on_request_survives_a_power_cycle(profile, sim):
    sim.servo(3).set("Homing_Offset", 5)
    if "Lock" in sim.servo(3).spec.registers:
        sim.servo(3).set("Lock", 1)  # as the factory leaves it: EEPROM writes would not persist
    arm = Arm(profile, sim.port)
    arm.connect(write_calibration=True)
    arm.disconnect()
    for servo in sim.servos:
        servo.power_cycle()
    arm.connect()  # refused if the offset had been lost at power-off
    arm.disconnect()
    if "Lock" in sim.servo(3).spec.registers:
        assert sim.servo(3).get("Lock") == 1, "EEPROM must be locked again after the write"


def test_a_hardware_alarm_is_not_a_refused_write(arm, sim):
    arm.activate()
    sim.servo(3).raise_hardware_error()  # rides on every status packet of that servo from now on
    report = arm.disconnect()  # no error: every servo is off, read back
    assert report == dict.fromkeys(arm.names, False)


def test_one_servo_that_raises_does_not_spare_the_others(arm, sim, monkeypatch):
    arm.activate()
    real_write = arm.bus.write

    def write(register, motor, value, retries=None):
        if motor == "elbow_flex":
            raise RuntimeError("a bug in one servo's path")
        return real_write(register, motor, value, retries)

    monkeypatch.setattr(arm.bus, "write", write)
    with pytest.raises(BusError, match=r"torque off \(read back\) on .*'gripper'.*torque still ON on \['elbow_flex'\]"):
        arm.disconnect()
    assert [s.servo_id for s in sim.servos if s.torque_enabled] == [3]


def test_health_is_read_in_si_units(arm, profile):
    """The simulated supply (12 V for STS3215 and XL430, 5 V for XL330, 30 degC) comes back in
    volts and degrees through each model's unit, one health register per slot."""
    arm.activate()
    for _ in range(2 * profile.control.health_every_n_cycles):
        arm.cycle()
    voltage = arm.health.get("Present_Voltage") or arm.health["Present_Input_Voltage"]
    expected = {j.name: 5.0 if j.model.startswith("xl330") else 12.0 for j in profile.joints}
    assert voltage == pytest.approx(expected)
    assert arm.health["Present_Temperature"] == pytest.approx(dict.fromkeys(arm.names, 30.0))
    assert arm.health["Torque_Enable"] == dict.fromkeys(arm.names, 1)
    assert arm.alarms() == {}
