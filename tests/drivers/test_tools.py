"""lerobot_calibrate and lerobot_motors as a user runs them, against a simulated bus."""

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from lerobot_drivers.arm import Arm
from lerobot_drivers.motors.tables import model
from lerobot_drivers.profile import load_profile
from lerobot_drivers.sim.bus import HandMotion, SimulatedBus
from lerobot_drivers.sim.servo import SimServo

ROOT = Path(__file__).resolve().parents[2]


def new_arm(protocol: str, baud_value: int) -> list[SimServo]:
    name = "sts3215" if protocol == "feetech" else "xl330-m288"
    servos = [SimServo(model(name), i + 1, 1500 + 150 * i) for i in range(6)]
    for servo in servos:
        servo.set("Baud_Rate", baud_value)
    return servos


def test_calibrate_writes_a_file_the_driver_accepts(tmp_path):
    source = (ROOT / "config" / "so101_follower_sim.yaml").read_text()
    profile_path = tmp_path / "arm.yaml"
    profile_path.write_text(
        source.replace("calibration: calibration/so101_sim.json", f"calibration: {tmp_path}/new.json")
    )
    servos = new_arm("feetech", 0)
    with SimulatedBus("feetech", servos, hand_motion=HandMotion(amplitude=250, period_s=0.6)) as sim:
        tool = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lerobot_drivers.tools.calibrate",
                "--profile",
                str(profile_path),
                "--port",
                sim.port,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert "MIDDLE" in tool.stdout.readline()
        tool.stdin.write("\n")
        tool.stdin.flush()
        assert "whole range" in tool.stdout.readline()
        time.sleep(1.5)  # the "hand" moves every joint through +-250 steps meanwhile
        out, _ = tool.communicate("\n", timeout=30)
        assert tool.returncode == 0, out
        calibration = json.loads((tmp_path / "new.json").read_text())
        assert set(calibration) == {j.name for j in load_profile(profile_path).joints}
        for name, entry in calibration.items():
            servo = sim.servo(entry["id"])
            assert servo.get("Homing_Offset") == entry["homing_offset"]
            if name == "wrist_roll":
                assert (entry["range_min"], entry["range_max"]) == (0, 4095)  # full turn
            else:
                assert entry["range_max"] - entry["range_min"] > 350, entry
                assert entry["range_min"] < 2047 + 260 and entry["range_max"] > 2047 - 260
                assert servo.get("Max_Position_Limit") == entry["range_max"]
        assert all(s.get("Lock") == 1 for s in servos), "EEPROM must be locked again after calibrating"
        sim.power(False)
        sim.power(True)  # offsets written while Lock was set would be gone now
        profile = load_profile(profile_path)
        arm = Arm(replace(profile, bus=replace(profile.bus, latency_timer_ms=16.0)), sim.port)
        arm.connect()  # the servos hold what the file says, after a power cycle too
        arm.disconnect()


def test_calibrate_refuses_a_joint_that_did_not_move(tmp_path):
    source = (ROOT / "config" / "so101_follower_sim.yaml").read_text()
    profile_path = tmp_path / "arm.yaml"
    profile_path.write_text(
        source.replace("calibration: calibration/so101_sim.json", f"calibration: {tmp_path}/new.json")
    )
    with SimulatedBus("feetech", new_arm("feetech", 0)) as sim:  # nobody moves the arm
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "lerobot_drivers.tools.calibrate",
                "--profile",
                str(profile_path),
                "--port",
                sim.port,
            ],
            input="\n\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert "did not move during range recording" in result.stderr
    assert not (tmp_path / "new.json").exists()


def test_scan_lists_servos(tmp_path):
    servos = new_arm("dynamixel", 1)  # factory default 57600
    with SimulatedBus("dynamixel", servos) as sim:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "lerobot_drivers.tools.motors",
                "scan",
                "--port",
                sim.port,
                "--protocol",
                "dynamixel",
                "--baud",
                "1000000",
                "--baud",
                "57600",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("57600 baud") == 6 and "xl330-m288" in result.stdout


def test_setup_gives_a_new_servo_its_id_and_baud():
    servo = SimServo(model("sts3215"), 1)  # factory: id 1
    servo.set("Baud_Rate", 1)  # 500 kbps
    with SimulatedBus("feetech", [servo]) as sim:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "lerobot_drivers.tools.motors",
                "setup",
                "--profile",
                str(ROOT / "config" / "so101_follower_sim.yaml"),
                "--port",
                sim.port,
                "--joint",
                "wrist_flex",
                "--yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "'wrist_flex': sts3215 id 1 -> 4, 500000 -> 1000000 baud" in result.stdout
    assert servo.servo_id == 4 and servo.get("Baud_Rate") == 0


def test_setup_refuses_more_than_one_servo():
    with SimulatedBus("feetech", new_arm("feetech", 0)) as sim:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "lerobot_drivers.tools.motors",
                "setup",
                "--profile",
                str(ROOT / "config" / "so101_follower_sim.yaml"),
                "--port",
                sim.port,
                "--joint",
                "gripper",
                "--yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert "needs exactly one servo on the bus, found 6" in result.stderr


def test_scan_with_the_wrong_protocol_names_the_right_one():
    with SimulatedBus("dynamixel", new_arm("dynamixel", 3)) as sim:
        result = subprocess.run(
            [sys.executable, "-m", "lerobot_drivers.tools.motors", "scan", "--port", sim.port,
             "--protocol", "feetech", "--baud", "1000000"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 1
    assert "scanning" in result.stderr and "for feetech servos at 1000000 baud" in result.stderr
    assert "no feetech servo answered, but dynamixel servos did (ids [1, 2, 3, 4, 5, 6] at 1000000 baud)" in (
        result.stderr
    )
    assert "use --protocol dynamixel" in result.stderr
