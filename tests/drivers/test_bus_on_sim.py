"""The vendors' SDKs, through MotorBus, against the simulated bus on a pty."""

import threading
import time

import pytest

from lerobot_drivers.errors import BusError, MotorMismatchError
from lerobot_drivers.motors.bus import Motor, MotorBus
from lerobot_drivers.motors.tables import model
from lerobot_drivers.sim.bus import SimulatedBus
from lerobot_drivers.sim.servo import SimServo

from .conftest import ARMS, NAMES


def test_ping_and_verify(bus, sim, protocol):
    assert bus.ping(1) == model(ARMS[protocol][0]).number
    assert bus.ping(42) is None
    bus.verify()


def test_sync_read_matches_the_servos(bus, sim):
    positions = bus.sync_read("Present_Position")
    assert positions == {name: 1000 + 200 * i for i, name in enumerate(NAMES)}


def test_sync_write_moves_the_servos(bus, sim):
    bus.set_torque(True)
    goals = {name: 2048 + 10 * i for i, name in enumerate(NAMES)}
    bus.sync_write("Goal_Position", goals)
    deadline = time.monotonic() + 3
    still = dict.fromkeys(NAMES, 0)  # Moving may clear a control step after the position arrives
    while (bus.sync_read("Present_Position"), bus.sync_read("Moving")) != (goals, still):
        assert time.monotonic() < deadline, f"servos did not reach {goals} and stop"
        time.sleep(0.02)


def test_homing_offset_shifts_present_position(bus, sim, protocol):
    before = bus.read("Present_Position", "elbow_flex")
    offset = before - 2047 if protocol == "feetech" else 2047 - before  # LeRobot's half-turn homing
    bus.write("Homing_Offset", "elbow_flex", offset)
    assert bus.read("Present_Position", "elbow_flex") == 2047
    assert bus.read("Homing_Offset", "elbow_flex") == offset  # signed values survive the wire


def test_scan_finds_servos_at_each_baud(sim, protocol):
    spec = model(ARMS[protocol][0])
    odd_baud = 57_600
    sim.servo(6).set("Baud_Rate", spec.bauds[odd_baud])
    bus = MotorBus(sim.port, {"a": Motor(1, spec.name)}, protocol=protocol)
    with bus:
        found = bus.scan([1_000_000, odd_baud, 115_200])
    assert found == {1_000_000: dict.fromkeys(range(1, 6), spec.number), odd_baud: {6: spec.number}}


def test_setup_motor_assigns_id_and_baud(protocol):
    spec = model(ARMS[protocol][0])
    factory_baud = 57_600 if protocol == "dynamixel" else 500_000
    servo = SimServo(spec, 1)
    servo.set("Baud_Rate", spec.bauds[factory_baud])
    with SimulatedBus(protocol, [servo]) as sim:
        bus = MotorBus(sim.port, {"gripper": Motor(6, spec.name)}, protocol=protocol)
        with bus:
            bus.setup_motor("gripper", current_id=1, current_baud=factory_baud)
            bus.verify()
        assert servo.servo_id == 6 and servo.get("Baud_Rate") == spec.bauds[1_000_000]


def test_setup_motor_refuses_the_wrong_servo(sim, bus):
    with pytest.raises(MotorMismatchError, match="found nothing"):
        bus.setup_motor("gripper", current_id=30, current_baud=1_000_000)


def test_eeprom_write_with_torque_on_is_refused(bus, protocol):
    if protocol != "dynamixel":
        pytest.skip("Feetech servos accept EEPROM writes with torque on")
    bus.set_torque(True, ["gripper"])
    with pytest.raises(BusError, match=r"refused Homing_Offset=10.*need torque off"):
        bus.write("Homing_Offset", "gripper", 10)


def test_hardware_error_drops_torque_until_reboot(bus, sim, protocol):
    if protocol != "dynamixel":
        pytest.skip("reboot is a Dynamixel instruction")
    bus.set_torque(True, ["wrist_roll"])
    with sim.lock:
        sim.servo(5).raise_hardware_error()
    assert bus.read("Hardware_Error_Status", "wrist_roll") == 0x20
    assert bus.errors["servo_error"] >= 1  # the alert bit rides on every status
    with pytest.raises(BusError, match="refused Torque_Enable=1"):
        bus.write("Torque_Enable", "wrist_roll", 1)
    bus.reboot("wrist_roll")
    time.sleep(0.01)
    bus.write("Torque_Enable", "wrist_roll", 1)
    assert bus.read("Torque_Enable", "wrist_roll") == 1


def test_corrupted_replies_are_retried_and_counted(bus, sim):
    sim.faults.corrupt_rate = 0.02
    for _ in range(200):
        assert len(bus.sync_read("Present_Position")) == 6
    assert sim.stats["corrupted"] > 0
    assert sum(bus.errors.values()) >= 1


def test_silent_servo_is_named_and_recovers(bus, sim):
    sim.faults.muted.add(3)
    with pytest.raises(BusError, match=r"sync read of Present_Position .* failed after 3 tries"):
        bus.sync_read("Present_Position")
    with pytest.raises(MotorMismatchError, match=r"elbow_flex \(id 3\) does not answer"):
        bus.verify()
    sim.faults.muted.clear()
    assert len(bus.sync_read("Present_Position")) == 6


def test_verify_waits_for_a_servo_that_answers_late(bus, sim):
    """A bus just powered up, or a host under load, misses the first replies."""
    sim.faults.muted.add(1)
    threading.Timer(0.15, sim.faults.muted.clear).start()
    bus.verify()


def test_duplicate_ids_are_detected(sim, bus, protocol):
    sim.servos.append(SimServo(model(ARMS[protocol][0]), 2))
    sim.servos[-1].set("Baud_Rate", ARMS[protocol][1])
    with pytest.raises(MotorMismatchError, match=r"shoulder_lift \(id 2\) does not answer"):
        bus.verify()


def test_stuck_port_busy_flag_recovers(bus):
    bus._port.is_using = True  # what an exception inside the SDK leaves behind
    assert bus.read("Present_Position", "gripper") == 2000
    assert bus.errors["[TxRxResult] Port is in use!"] == 1


def test_second_thread_is_refused(bus):
    errors = []
    thread = threading.Thread(target=lambda: errors.append(_catch(lambda: bus.read("ID", "gripper"))))
    thread.start()
    thread.join()
    assert "second thread" in str(errors[0])


def test_wrong_port_says_what_to_check(protocol):
    bus = MotorBus("/dev/ttyNOPE0", {"a": Motor(1, ARMS[protocol][0])}, protocol=protocol)
    with pytest.raises(BusError, match=r"cannot open servo bus port '/dev/ttyNOPE0'.*dialout"):
        bus.connect()


def test_wrong_baud_finds_nothing(sim, protocol):
    bus = MotorBus(
        sim.port,
        {"a": Motor(1, ARMS[protocol][0])},
        protocol=protocol,
        baudrate=115_200,
        latency_timer_ms=1.0,
    )
    bus.connect()
    with pytest.raises(MotorMismatchError, match=r"at 115200 baud: a \(id 1\) does not answer"):
        bus.verify()
    bus.disconnect(disable_torque=False)


def test_model_mismatch_is_named(sim, protocol):
    other = "xl430-w250" if protocol == "dynamixel" else None
    if other is None:
        pytest.skip("one Feetech model is supported")
    bus = MotorBus(sim.port, {"a": Motor(1, other)}, protocol=protocol)
    with bus, pytest.raises(MotorMismatchError, match="is model 1200, the profile says xl430-w250"):
        bus.verify()


def _catch(call):
    try:
        call()
    except Exception as exc:
        return exc
    return None


def test_disconnect_reports_servos_left_torqued(sim, protocol):
    bus = MotorBus(sim.port, {"a": Motor(1, ARMS[protocol][0])}, protocol=protocol)
    bus.connect()
    bus.set_torque(True)
    sim.faults.muted.add(1)
    with pytest.raises(BusError, match=r"torque state UNKNOWN on \['a'\].*cut power to the arm"):
        bus.disconnect()
    assert not bus.is_connected


def test_an_exception_inside_the_sdk_is_a_retried_failure(bus):
    real = bus._handler.ping
    calls = []

    def flaky(port, servo_id):
        calls.append(servo_id)
        if len(calls) == 1:
            port.is_using = True  # as the SDK leaves it when it raises mid-transaction
            raise IndexError("list index out of range")  # scservo_sdk's ping on a lost model-number read
        return real(port, servo_id)

    bus._handler.ping = flaky
    assert bus.ping(1, retries=1) == model(ARMS[bus.protocol][0]).number
    assert bus.errors["SDK raised IndexError: list index out of range"] == 1


def test_late_replies_are_never_read_as_the_answer_to_the_next_request(bus, sim):
    """The SDKs match a status packet by servo id only: a 1-byte reply that arrives after its
    read timed out must not become the next 2-byte read's value."""
    expected = bus.sync_read("Homing_Offset")
    sim.faults.delay_rate, sim.faults.delay_s = 1.0, 0.15
    with pytest.raises(BusError):
        bus.sync_read("Firmware_Minor_Version" if "Firmware_Minor_Version" in bus.motors["gripper"].spec.registers
                      else "Firmware_Version")  # fmt: skip
    sim.faults.delay_rate = 0.0
    time.sleep(0.5)  # every late reply has arrived and waits in the input buffer
    assert bus.sync_read("Homing_Offset") == expected
    assert bus.errors["late replies dropped"] >= 1


def test_a_late_reply_arriving_during_the_next_read_is_not_its_answer(bus, sim):
    """A position reply that arrives after its read gave up, while the host already waits for
    a 1-byte alarm register of the same servo: the SDKs match by id alone and would hand back
    the position's low byte (2000 = 0x07D0: 0xD0, four alarm bits) as the servo's alarms."""
    alarms = bus.backend.alarm_register
    assert bus.read("Present_Position", "gripper") & 0xFF  # a low byte that reads as alarms
    sim.faults.delay_rate, sim.faults.delay_s = 1.0, 0.2
    with pytest.raises(BusError):
        bus.read("Present_Position", "gripper")  # gives up long before the sim answers
    sim.faults.delay_rate = 0.0
    values, deadline = [], time.monotonic() + 3.0
    while len(values) < 20 and time.monotonic() < deadline:
        try:  # the late position replies land while these wait for their own answers
            values.append(bus.read(alarms, "gripper"))
        except BusError:
            continue
    assert values and set(values) == {0}
    assert bus.errors["late replies skipped"] >= 1  # the case this is about did happen
    assert bus.read("Present_Position", "gripper") == 2000
