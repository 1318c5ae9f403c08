"""The arm driver node in its own process, on the simulated bus in another."""

import json
import math
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rcl_interfaces.msg import Parameter as RosParameter
from rcl_interfaces.msg import ParameterType, ParameterValue, SetParametersResult
from rcl_interfaces.srv import SetParameters
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from lerobot_drivers.calibration import load_calibration, radian_limits
from lerobot_drivers.profile import load_profile
from lerobot_drivers.sim.cli import send_command
from ros_harness import RosProbe, RosTestbed, wait_until

ROOT = Path(__file__).resolve().parents[2]
PROFILES = {"feetech": "so101_follower_sim.yaml", "dynamixel": "koch_follower_sim.yaml"}


def start_arm(testbed: RosTestbed, profile: str, *sim_args: str, params: tuple[str, ...] = ()):
    sim = testbed.start("sim_bus", [sys.executable, "-m", "lerobot_drivers.sim.cli", "--profile", profile, *sim_args])
    port = sim.wait_for_output(r"port: (\S+)").group(1)
    control = sim.wait_for_output(r"control: (\S+)").group(1)
    ros_args = [arg for param in (f"profile:={profile}", f"port:={port}", *params) for arg in ("-p", param)]
    node = testbed.start(
        "arm_driver", [sys.executable, "-m", "lerobot_drivers.nodes.arm_node", "--ros-args", *ros_args]
    )
    return sim, node, control


def assert_clean_output(node) -> None:
    """No traceback, and no log line lost because the context was gone before the release."""
    assert "Traceback" not in node.output, node.output
    assert "Failed to publish log message to rosout" not in node.output, node.output


def transition(probe: RosProbe, transition_id: int) -> bool:
    return probe.call(
        ChangeState, "/arm_driver/change_state", ChangeState.Request(transition=Transition(id=transition_id))
    ).success


@pytest.mark.parametrize("protocol", sorted(PROFILES))
def test_lifecycle_commands_safety_and_shutdown(ros_testbed, ros_probe, protocol):
    _sim, node, control = start_arm(ros_testbed, str(ROOT / "config" / PROFILES[protocol]))
    states = ros_probe.collect(JointState, "/follower/joint_states")
    assert transition(ros_probe, Transition.TRANSITION_CONFIGURE)
    assert all(v == 0 for v in send_command(control, {})["torque"].values()), "configure must not torque on"
    assert transition(ros_probe, Transition.TRANSITION_ACTIVATE)
    assert all(v == 1 for v in send_command(control, {})["torque"].values())
    first = states.wait_for(5)[-1]
    assert list(first.name)[:2] == ["shoulder_pan", "shoulder_lift"]
    assert all(abs(p) < 0.05 for p in first.position), "the sim arm rests mid-range (0 rad)"

    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
    commands = ros_probe.node.create_publisher(Float64MultiArray, "/follower/joint_commands/array", qos)
    target = [0.3, -0.2, 0.25, 0.0, 0.5, 0.1]

    def reached() -> bool:
        commands.publish(Float64MultiArray(data=target))
        last = states.snapshot()[-1]
        return all(abs(p - t) < 0.02 for p, t in zip(last.position, target, strict=True))

    wait_until(reached, 10, "the arm to reach the commanded pose")
    commands.publish(Float64MultiArray(data=[math.nan, 0, 0, 0, 0, 0]))
    node.wait_for_output("refused a command with non-finite values")
    assert states.snapshot()[-1].position[0] == pytest.approx(0.3, abs=0.02), "a NaN command moved the arm"
    commands.publish(Float64MultiArray(data=[9.0, 0, 0, 0, 0, 0]))  # far outside: clamped
    time.sleep(1.0)
    limit = states.snapshot()[-1].position[0]
    calibration = load_calibration(load_profile(ROOT / "config" / PROFILES[protocol]).calibration)
    assert limit == pytest.approx(radian_limits(calibration["shoulder_pan"])[1], abs=0.01)

    # stale commands: the arm holds where it is
    time.sleep(0.8)
    held = states.snapshot()[-1].position
    time.sleep(0.5)
    assert states.snapshot()[-1].position == pytest.approx(held, abs=1e-3)

    assert node.stop() == 0
    assert all(v == 0 for v in send_command(control, {})["torque"].values()), "torque must be off after Ctrl-C"


def publish_rate(states, seconds: float = 1.5) -> float:
    start, count = time.monotonic(), len(states.snapshot())
    time.sleep(seconds)
    return (len(states.snapshot()) - count) / (time.monotonic() - start)


def test_silent_servo_gives_error_diagnostic_and_recovers(ros_testbed, ros_probe):
    _sim, _node, control = start_arm(ros_testbed, str(ROOT / "config" / PROFILES["feetech"]))
    states = ros_probe.collect(JointState, "/follower/joint_states")
    diagnostics = ros_probe.collect(DiagnosticArray, "/diagnostics")
    assert transition(ros_probe, Transition.TRANSITION_CONFIGURE)
    assert transition(ros_probe, Transition.TRANSITION_ACTIVATE)
    states.wait_for(20)
    clean = publish_rate(states)
    send_command(control, {"faults": {"corrupt_rate": 0.01}})
    noisy = publish_rate(states)
    assert noisy >= 0.8 * clean, f"1% corrupted replies: {noisy:.0f} Hz against {clean:.0f} Hz on a clean bus"
    assert send_command(control, {})["stats"]["corrupted"] > 0
    send_command(control, {"faults": {"corrupt_rate": 0.0}})

    send_command(control, {"mute": [3]})
    diagnostics.wait_for(1, timeout=10, where=lambda m: m.status[0].level == DiagnosticStatus.ERROR)
    error = next(m for m in diagnostics.snapshot() if m.status[0].level == DiagnosticStatus.ERROR).status[0]
    assert "elbow_flex" in error.message and "holding" in error.message
    stalled = len(states.snapshot())
    time.sleep(0.3)
    assert len(states.snapshot()) - stalled <= 1, "no fresh JointState while a servo is silent"

    send_command(control, {"unmute": [3]})
    states.wait_for(stalled + 20, timeout=10)
    diagnostics.wait_for(
        1, timeout=10, where=lambda m: m.status[0].level == DiagnosticStatus.OK and m.header.stamp.sec > 0
    )
    counters = {kv.key: kv.value for kv in diagnostics.snapshot()[-1].status[0].values}
    assert any(k.startswith("bus_errors/") for k in counters), counters
    assert json.dumps(counters)


def test_missing_calibration_never_torques_on(ros_testbed, ros_probe, tmp_path):
    profile = (ROOT / "config" / "so101_follower_sim.yaml").read_text()
    bad = tmp_path / "no_cal.yaml"
    bad.write_text(profile.replace("calibration: calibration/so101_sim.json", f"calibration: {tmp_path}/none.json"))
    _sim, node, control = start_arm(ros_testbed, str(bad))
    assert not transition(ros_probe, Transition.TRANSITION_CONFIGURE)
    node.wait_for_output(r"none.json does not exist: calibrate the arm")
    assert all(v == 0 for v in send_command(control, {})["torque"].values())


@pytest.mark.parametrize("protocol", sorted(PROFILES))
def test_servo_hardware_error_is_reported(ros_testbed, ros_probe, protocol):
    _sim, _node, control = start_arm(ros_testbed, str(ROOT / "config" / PROFILES[protocol]))
    diagnostics = ros_probe.collect(DiagnosticArray, "/diagnostics")
    assert transition(ros_probe, Transition.TRANSITION_CONFIGURE)
    assert transition(ros_probe, Transition.TRANSITION_ACTIVATE)
    send_command(control, {"hardware_error": 5})
    report = diagnostics.wait_for(1, timeout=10, where=lambda m: "hardware error" in m.status[0].message)[0]
    assert report.status[0].level == DiagnosticStatus.ERROR
    assert "wrist_roll" in report.status[0].message
    assert send_command(control, {})["torque"]["5"] == 0, "an overloaded servo drops its torque"


def test_joint_state_and_trajectory_commands(ros_testbed, ros_probe):
    from builtin_interfaces.msg import Duration
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    _sim, _node, _control = start_arm(ros_testbed, str(ROOT / "config" / PROFILES["feetech"]))
    states = ros_probe.collect(JointState, "/follower/joint_states")
    assert transition(ros_probe, Transition.TRANSITION_CONFIGURE)
    assert transition(ros_probe, Transition.TRANSITION_ACTIVATE)
    names = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)

    def reached(target: list[float]) -> bool:
        received = states.snapshot()
        return bool(received) and all(abs(p - t) < 0.02 for p, t in zip(received[-1].position, target, strict=True))

    by_name = ros_probe.node.create_publisher(JointState, "/follower/joint_commands", qos)
    target = [0.2, 0.1, -0.1, 0.3, 0.0, 0.05]
    order = [5, 3, 1, 0, 2, 4]  # names in another order than the profile's: matched by name
    command = JointState(name=[names[i] for i in order], position=[target[i] for i in order])
    wait_until(lambda: by_name.publish(command) or reached(target), 10, "the arm to follow a JointState command")

    trajectory = ros_probe.node.create_publisher(
        JointTrajectory, "/follower/joint_commands/trajectory", qos_profile_sensor_data
    )
    later = [-0.2, 0.0, 0.2, -0.3, 0.1, 0.0]
    points = [
        JointTrajectoryPoint(positions=later, time_from_start=Duration(sec=0)),  # due on receipt (stamp 0)
        JointTrajectoryPoint(positions=target, time_from_start=Duration(sec=30)),  # not due within this test
    ]
    msg = JointTrajectory(joint_names=names, points=points)
    wait_until(lambda: trajectory.publish(msg) or reached(later), 10, "the arm to follow the due trajectory point")


def test_unplugged_adapter_is_named_reopened_and_torqued_again(ros_testbed, ros_probe, tmp_path):
    link = tmp_path / "ttyUSB-arm"
    _sim, node, control = start_arm(
        ros_testbed, str(ROOT / "config" / PROFILES["feetech"]), "--link", str(link), params=("autostart:=true",)
    )
    states = ros_probe.collect(JointState, "/follower/joint_states")
    diagnostics = ros_probe.collect(DiagnosticArray, "/diagnostics")
    node.wait_for_output("active at")
    states.wait_for(20)
    send_command(control, {"unplug": 1.5})
    node.wait_for_output(rf"servo bus port {link} was lost .*Reopening {link} every 0.5 s")
    report = diagnostics.wait_for(1, where=lambda m: m.status[0].message.startswith("port lost"))[0].status[0]
    assert report.level == DiagnosticStatus.ERROR and report.hardware_id == str(link)
    node.wait_for_output(rf"port {link} is back after .*re-verified, goals re-seeded, torque on again", timeout=10)
    count = len(states.snapshot())
    states.wait_for(count + 20, timeout=5)
    assert all(v == 1 for v in send_command(control, {})["torque"].values())
    assert node.output.count("was lost") == 1, "one line for the loss, not one per cycle"
    assert node.stop() == 0
    assert all(v == 0 for v in send_command(control, {})["torque"].values())
    assert_clean_output(node)


def test_power_dip_is_recovered_with_torque_read_back(ros_testbed, ros_probe):
    _sim, node, control = start_arm(
        ros_testbed, str(ROOT / "config" / PROFILES["dynamixel"]), params=("autostart:=true",)
    )
    states = ros_probe.collect(JointState, "/follower/joint_states")
    states.wait_for(20)
    send_command(control, {"power_dip": 1.0})
    node.wait_for_output(r"no servo answers \(power lost\?\)")
    node.wait_for_output(r"lost torque \(a power dip\?\)", timeout=10)
    node.wait_for_output(r"were power-cycled: .*torque on again")
    assert "recovered" not in node.output, "a limp arm is not a recovered bus"
    assert all(v == 1 for v in send_command(control, {})["torque"].values())
    assert node.stop() == 0
    assert_clean_output(node)


SIGINT_RUNS = [pytest.param(run, marks=[pytest.mark.slow] if run else []) for run in range(5)]


@pytest.mark.parametrize("run", SIGINT_RUNS)
@pytest.mark.parametrize("gap_ms", [0, 1, 3, 10])
def test_two_sigints_cannot_cut_the_torque_off_short(ros_testbed, tmp_path, gap_ms, run):
    """The simulated-arm scenario (simulator, driver, camera) stopped as a terminal and
    `ros2 launch` stop it: SIGINT to every process at once, and a second one to the driver a
    few ms later. The simulator, like real servos, outlives the driver. 5 runs per gap."""
    link = tmp_path / "ttyUSB-arm"
    sim, node, _control = start_arm(
        ros_testbed,
        str(ROOT / "config" / PROFILES["feetech"]),
        "--emulate-wire",
        "--link",
        str(link),
        params=("autostart:=true",),
    )
    camera = ros_testbed.start_python(
        "camera", "lerobot_drivers.nodes.camera_node", "--ros-args", "-p", "autostart:=true", "-p", "fps:=30"
    )
    node.wait_for_output("active at")
    camera.wait_for_output("configured synthetic camera")
    time.sleep(0.3)
    for process in (node, camera, sim):
        os.kill(process.popen.pid, signal.SIGINT)
    time.sleep(gap_ms / 1000)
    for process in (node, camera):
        os.kill(process.popen.pid, signal.SIGINT)
    assert node.wait(15) == 0, node.output
    assert camera.wait(15) == 0, camera.output
    assert sim.wait(15) == 0
    final = json.loads(sim.wait_for_output(r"final torque: (.*)").group(1))
    assert final == {str(i): 0 for i in range(1, 7)}, node.output
    node.wait_for_output(r"torque off on all 6 servos \(read back\)")
    assert_clean_output(node)
    assert_clean_output(camera)


def test_failed_autostart_exits_with_code_1(ros_testbed, tmp_path):
    profile = (ROOT / "config" / "so101_follower_sim.yaml").read_text()
    bad = tmp_path / "no_cal.yaml"
    bad.write_text(profile.replace("calibration: calibration/so101_sim.json", f"calibration: {tmp_path}/none.json"))
    _sim, node, control = start_arm(ros_testbed, str(bad), params=("autostart:=true",))
    assert node.wait(20) == 1, node.output
    assert "none.json does not exist" in node.output and "autostart: configure failed" in node.output
    assert all(v == 0 for v in send_command(control, {})["torque"].values())


def test_parameters_as_a_user_sets_them(ros_testbed, ros_probe):
    _sim, node, _control = start_arm(
        ros_testbed,
        str(ROOT / "config" / PROFILES["feetech"]),
        "--baudrate",
        "500000",
        params=("autostart:=true", "rate_hz:=50", "baudrate:=500000"),  # integers, as typed
    )
    states = ros_probe.collect(JointState, "/follower/joint_states")
    node.wait_for_output("at 500000 baud")
    states.wait_for(10)
    assert publish_rate(states) == pytest.approx(50, rel=0.3)

    def set_parameter(name: str, value: ParameterValue) -> SetParametersResult:
        request = SetParameters.Request(parameters=[RosParameter(name=name, value=value)])
        return ros_probe.call(SetParameters, "/arm_driver/set_parameters", request).results[0]

    assert set_parameter("rate_hz", ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=20)).successful
    node.wait_for_output("control rate now 20 Hz")
    assert publish_rate(states) == pytest.approx(20, rel=0.3)
    refused = set_parameter("port", ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="/dev/ttyACM1"))
    assert not refused.successful and "read at configure" in refused.reason
    negative = set_parameter("rate_hz", ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=-1.0))
    assert not negative.successful and ">= 0" in negative.reason
    assert node.stop() == 0
    assert_clean_output(node)
