"""A simulated six-servo arm per protocol, with a MotorBus on the real SDK connected to it."""

from collections.abc import Iterator

import pytest

from lerobot_drivers.motors.bus import Motor, MotorBus
from lerobot_drivers.motors.tables import model
from lerobot_drivers.sim.bus import SimulatedBus
from lerobot_drivers.sim.servo import SimServo

ARMS = {
    "feetech": ("sts3215", 0),  # model, Baud_Rate register value for 1 Mbps
    "dynamixel": ("xl330-m288", 3),
}
NAMES = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")


def make_servos(protocol: str) -> list[SimServo]:
    model_name, baud_value = ARMS[protocol]
    servos = [SimServo(model(model_name), i + 1, 1000 + 200 * i) for i in range(len(NAMES))]
    for servo in servos:
        servo.set("Baud_Rate", baud_value)
    return servos


@pytest.fixture(params=sorted(ARMS))
def protocol(request) -> str:
    return request.param


@pytest.fixture
def sim(protocol: str) -> Iterator[SimulatedBus]:
    with SimulatedBus(protocol, make_servos(protocol)) as bus:
        yield bus


@pytest.fixture
def bus(sim: SimulatedBus, protocol: str) -> Iterator[MotorBus]:
    motors = {name: Motor(i + 1, ARMS[protocol][0]) for i, name in enumerate(NAMES)}
    motor_bus = MotorBus(sim.port, motors, protocol=protocol)
    motor_bus.connect()
    yield motor_bus
    motor_bus.disconnect(disable_torque=False)
