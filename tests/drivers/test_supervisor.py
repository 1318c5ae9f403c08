"""Faults of the hardware around the servos, on an in-process simulated bus: an unplugged
adapter, a power dip, EEPROM that is lost at power-off, a servo alarm."""

import termios
import time
from dataclasses import replace
from pathlib import Path

import pytest
import serial

from lerobot_drivers.arm import Arm
from lerobot_drivers.errors import BusError, PortLostError
from lerobot_drivers.profile import load_profile
from lerobot_drivers.sim.bus import SimulatedBus
from lerobot_drivers.sim.cli import servos_for
from lerobot_drivers.supervisor import ArmSupervisor, Link

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["so101_follower_sim.yaml", "koch_follower_sim.yaml"])
def profile(request):
    return load_profile(ROOT / "config" / request.param)


@pytest.fixture
def sim(profile, tmp_path):
    with SimulatedBus(profile.bus.protocol, servos_for(profile), link=tmp_path / "ttyARM") as bus:
        yield bus


@pytest.fixture
def supervisor(profile, sim):
    arm = Arm(profile, sim.path)
    arm.connect()
    supervisor = ArmSupervisor(arm)
    supervisor.activate()
    yield supervisor
    if arm.bus.is_connected:
        arm.bus.disconnect(disable_torque=False)


def run_until(supervisor: ArmSupervisor, condition, seconds: float, what: str) -> list[str]:
    """Step at 100 Hz until `condition()`; the events said meanwhile, as 'level: message'."""
    said = []
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds} s; said: {said}"
        supervisor.arm.last_command_time = time.monotonic()
        supervisor.step()
        said += [f"{e.level}: {e.message}" for e in supervisor.take_events()]
        time.sleep(0.01)
    return said


def test_an_unplugged_adapter_names_the_port_and_comes_back_torqued(supervisor, sim):
    arm = supervisor.arm
    arm.command({"elbow_flex": 0.3})
    run_until(supervisor, lambda: abs(sim.servo(3).present_position() - 2047) > 100, 5, "a move")
    sim.unplug()
    said = run_until(supervisor, lambda: supervisor.link is Link.PORT_LOST, 2, "the loss to be seen")
    assert len(said) == 1 and said[0].startswith("error: servo bus port ") and sim.path in said[0]
    assert "unplugged" in said[0] and "cut the arm's power" in said[0]
    assert supervisor.status() == ("error", f"port lost: {sim.path} gone; reopening it every 0.5 s")
    assert not supervisor.commandable

    for servo in sim.servos:  # meanwhile someone moves the arm by hand (torque off on one joint)
        servo.set("Torque_Enable", 0)
    sim.servo(2).move_by_hand(sim.servo(2).present_position() + 150)
    time.sleep(0.6)  # reopening fails while the adapter is away, quietly
    supervisor.step()
    assert supervisor.take_events() == []

    sim.plug()
    said = run_until(supervisor, lambda: supervisor.link is Link.OK, 5, "the port to come back")
    assert said[-1].startswith(f"info: port {sim.path} is back after ")
    assert "re-verified, goals re-seeded, torque on again" in said[-1]
    assert all(s.torque_enabled for s in sim.servos)
    state = supervisor.step()
    assert state is not None and arm.goal == pytest.approx(arm.target)
    assert arm.goal["shoulder_lift"] == pytest.approx(state.positions["shoulder_lift"], abs=0.01), (
        "goals must start where the joints are now, not where they were before the loss"
    )


def test_a_power_dip_is_seen_and_the_arm_torqued_again(supervisor, sim):
    sim.power(False)
    said = run_until(supervisor, lambda: supervisor.link is Link.SILENT, 3, "the silence to be seen")
    assert "no servo answers (power lost?)" in said[-1] and sim.path in said[-1]
    sim.power(True)  # back from a power cycle: torque off, RAM at factory values
    said = run_until(supervisor, lambda: supervisor.link is Link.OK, 3, "the recovery")
    assert any("lost torque (a power dip?)" in line for line in said)
    assert "torque on again" in said[-1]
    assert all(s.torque_enabled for s in sim.servos)
    if sim.protocol == "feetech":  # a RAM register of the profile's set-up, lost in the dip
        assert all(s.get("Acceleration") == 254 for s in sim.servos)


def test_a_short_dip_between_health_reads_is_caught_by_the_torque_read_back(supervisor, sim):
    """Servos that blink off and on faster than the fault threshold still come back limp."""
    for servo in sim.servos:
        servo.power_cycle()
    said = run_until(supervisor, lambda: supervisor.recoveries == 1, 3, "the limp servos to be found")
    assert any("lost torque" in line for line in said)
    assert all(s.torque_enabled for s in sim.servos)


def test_a_servo_alarm_is_reported_once_and_not_torqued_over(supervisor, sim):
    sim.servo(5).raise_hardware_error()
    said = run_until(supervisor, lambda: supervisor.status()[0] == "error", 3, "the alarm")
    for _ in range(2 * supervisor.arm.profile.control.health_every_n_cycles):  # every health register read again
        supervisor.step()
        said += [f"{e.level}: {e.message}" for e in supervisor.take_events()]
    alarms = [line for line in said if "hardware alarm" in line]
    assert len(alarms) == 1 and "wrist_roll (id 5)" in alarms[0] and "overload" in alarms[0]
    assert supervisor.recoveries == 0 and not sim.servo(5).torque_enabled


def test_a_tty_that_answers_a_flush_with_eio_is_a_lost_port(profile, sim, monkeypatch):
    """Unplugged between two transactions, a tty fails pyserial's flushes (termios calls: the
    Dynamixel SDK drops input, the Feetech SDK drains output) with a bare termios.error, not an
    OSError; the race is made certain here by having them raise what the kernel returns."""

    def vanished(self):
        raise termios.error(5, "Input/output error")

    arm = Arm(profile, sim.path)
    arm.connect()
    for flush in ("flush", "reset_input_buffer", "reset_output_buffer"):
        monkeypatch.setattr(serial.Serial, flush, vanished)
    with pytest.raises(PortLostError, match=r"was lost \(.*Input/output error.*\): the adapter was unplugged"):
        arm.read_state()
    monkeypatch.undo()
    arm.bus.disconnect(disable_torque=False)


def test_a_flush_interrupted_by_a_signal_is_retried_not_a_lost_port(profile, sim, monkeypatch):
    """A second Ctrl-C landing in a flush (termios calls are not retried on EINTR by Python)
    must not end the torque-off: the transaction is tried again."""
    interrupted = []

    def once(original):
        def flush(self):
            if not interrupted:
                interrupted.append(True)
                raise termios.error(4, "Interrupted system call")
            return original(self)

        return flush

    arm = Arm(profile, sim.path)
    arm.connect()
    arm.bus.set_torque(True)
    for name in ("flush", "reset_input_buffer"):
        monkeypatch.setattr(serial.Serial, name, once(getattr(serial.Serial, name)))
    report = arm.bus.torque_off_everywhere()
    assert interrupted and arm.bus.lost is None
    assert report == dict.fromkeys(profile.joint_names, False)
    assert not any(servo.torque_enabled for servo in sim.servos)
    monkeypatch.undo()
    arm.bus.disconnect(disable_torque=False)


def test_port_loss_fails_fast_with_the_port_named(profile, sim):
    arm = Arm(profile, sim.path)
    arm.connect()
    sim.unplug()
    started = time.monotonic()
    with pytest.raises(PortLostError, match=rf"servo bus port {sim.path} was lost \(.+\): the adapter was unplugged"):
        arm.read_state()
    assert time.monotonic() - started < 0.5, "a dead port needs no retries"
    with pytest.raises(BusError, match=r"UNKNOWN on .*cut power to the arm"):
        arm.disconnect()
    assert not arm.bus.is_connected


def test_lerobot_calibration_write_unlocks_then_locks_eeprom(profile, sim):
    """What `lerobot_calibrate` and write_calibration do, seen from the servo: the offset is
    written with Lock cleared (so it persists), and Lock is set again afterwards."""
    if sim.protocol != "feetech":
        pytest.skip("Dynamixel EEPROM has no lock: it always persists")
    arm = Arm(replace(profile), sim.path)
    arm.connect()
    servo = sim.servo(2)
    with arm.bus.eeprom_writes(["shoulder_lift"]):
        arm.bus.write("Homing_Offset", "shoulder_lift", 77)
        assert servo.get("Lock") == 0
    assert servo.get("Lock") == 1 and servo.persisted_value("Homing_Offset") == 77
    arm.bus.write("Homing_Offset", "shoulder_lift", 99)  # locked: lost at power-off
    assert servo.get("Homing_Offset") == 99 and servo.persisted_value("Homing_Offset") == 77
    arm.bus.disconnect(disable_torque=False)


def test_release_after_a_replug_reopens_the_port_to_turn_torque_off(supervisor, sim):
    sim.unplug()
    run_until(supervisor, lambda: supervisor.link is Link.PORT_LOST, 2, "the loss to be seen")
    sim.plug()  # back, but the supervisor has not reopened it yet when the node is stopped
    assert supervisor.arm.disconnect() == dict.fromkeys(supervisor.arm.names, False)
    assert not any(s.torque_enabled for s in sim.servos)
