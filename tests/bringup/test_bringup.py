"""`lerobot_bringup <scenario>` as a user runs it: starts, runs, and stops on Ctrl-C with exit 0
and every simulated servo's torque off; a node that fails makes it exit non-zero."""

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, JointState
from visualization_msgs.msg import Marker, MarkerArray

from lerobot_drivers.images import compressed_to_rgb
from lerobot_drivers.sim.cli import send_command
from ros_harness import final_torques, interrupt, start_bringup

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).resolve().parents[2] / "config"


def stopped_cleanly(bringup, buses: int, *, times: int = 1) -> str:
    code = interrupt(bringup, times)
    output = bringup.output
    assert code == 0, output[-4000:]
    torques = final_torques(output)
    assert len(torques) == buses and all(v == 0 for t in torques for v in t.values()), torques
    assert "Traceback" not in output, output[-4000:]
    assert not bringup.group_alive()
    return output


def test_sim_arm_runs_and_stops_drivers_before_their_simulator(ros_testbed, ros_probe):
    states = ros_probe.collect(JointState, "/follower/joint_states", qos_profile_sensor_data)
    front = ros_probe.collect(CompressedImage, "/front/image_raw/compressed", qos_profile_sensor_data)
    wrist = ros_probe.collect(Image, "/wrist/image_raw", qos_profile_sensor_data)
    bringup = start_bringup(ros_testbed, "sim_arm", "emulate_wire:=false")
    bringup.wait_for_output(r"\[arm_driver\].*active at", 40)
    states.wait_for(5)
    front.wait_for(2)
    wrist.wait_for(2)
    output = stopped_cleanly(bringup, buses=1)
    driver_gone = output.index("arm_driver exited with code 0")
    assert driver_gone < output.index("[follower_bus] final torque"), "the bus outlived its driver"
    assert output.index("[follower_bus] port:") < output.index("started arm_driver"), "readiness, not a timer"


def test_sim_arm_in_physics_moves_the_scene_and_films_it(ros_testbed, ros_probe):
    """The driver's commands move MuJoCo's arm (the tool moves in the scene) and the cameras
    film the scene (the cube is in the front view), the cube is a marker where the scene has
    it, then all stops with torque off."""
    front = ros_probe.collect(CompressedImage, "/front/image_raw/compressed", qos_profile_sensor_data)
    wrist = ros_probe.collect(Image, "/wrist/image_raw", qos_profile_sensor_data)
    states = ros_probe.collect(JointState, "/follower/joint_states", qos_profile_sensor_data)
    markers = ros_probe.collect(MarkerArray, "/scene/markers")
    profile = CONFIG / "so101_follower_mujoco.yaml"
    bringup = start_bringup(ros_testbed, "sim_arm", "scene:=so101_pick", f"profile:={profile}")
    control = bringup.wait_for_output(r"\[follower_bus\] control: (\S+)", 60).group(1)
    bringup.wait_for_output(r"\[arm_driver\].*active at", 60)
    placed = send_command(control, {"cube": [0.25, 0.1, 0.02]})  # beside the gripper, not behind it
    assert placed["cube"] == pytest.approx([0.25, 0.1, 0.02], abs=1e-3)
    placed_at = time.time()

    def after_placing(msg: CompressedImage) -> bool:
        return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9 > placed_at + 0.2

    image = compressed_to_rgb(front.wait_for(1, timeout=30, where=after_placing)[0])
    r, g, b = (image[..., i].astype(int) for i in range(3))
    assert ((r - g > 50) & (b - g > 50)).sum() > 20, "the cube is in the front camera's view"
    assert wrist.wait_for(1, timeout=30)[0].width == 320

    def cube_where_placed(msg: MarkerArray) -> bool:
        p = msg.markers[0].pose.position
        return np.allclose([p.x, p.y, p.z], placed["cube"], atol=2e-3)

    cube = markers.wait_for(1, timeout=30, where=cube_where_placed)[-1].markers[0]  # for rviz and the Rerun view
    assert (cube.ns, cube.header.frame_id, cube.type, cube.scale.x) == ("block", "base_link", Marker.CUBE, 0.04)
    tool = send_command(control, {})["tool"]
    state = states.wait_for(1)[-1]
    command = JointState(name=list(state.name), position=list(state.position))
    command.position[0] += 0.6  # pan
    publisher = ros_probe.node.create_publisher(JointState, "/follower/joint_commands", 10)
    for _ in range(40):
        command.header.stamp = ros_probe.node.get_clock().now().to_msg()
        publisher.publish(command)
        time.sleep(0.05)
    moved = send_command(control, {})["tool"]
    assert abs(moved[1] - tool[1]) > 0.1, (tool, moved)  # turned about the base: sideways in the scene
    stopped_cleanly(bringup, buses=1)


def test_simulation_teleop_with_recording_survives_a_double_ctrl_c(ros_testbed, ros_probe, tmp_path):
    commands = ros_probe.collect(JointState, "/follower/joint_commands", qos_profile_sensor_data)
    bringup = start_bringup(ros_testbed, "simulation", "record:=true", f"output:={tmp_path / 'bags'}")
    bringup.wait_for_output(r"\[leader_arm\].*teleoperating", 40)
    bringup.wait_for_output(r"\[recorder\].*subscribed /follower/joint_commands", 40)
    commands.wait_for(5)
    stopped_cleanly(bringup, buses=2, times=2)


def simulated_bus(testbed, profile: str, *flags: str) -> tuple[str, str]:
    bus = testbed.start_python(profile, "lerobot_drivers.sim.cli", "--profile", str(CONFIG / profile), *flags)
    return bus.wait_for_output(r"port: (\S+)").group(1), bus.wait_for_output(r"control: (\S+)").group(1)


def test_follower_drives_a_bus_at_the_port_given(ros_testbed):
    port, control = simulated_bus(ros_testbed, "so101_follower_sim.yaml")
    bringup = start_bringup(ros_testbed, "follower", f"profile:={CONFIG / 'so101_follower_sim.yaml'}", f"port:={port}")
    bringup.wait_for_output(r"\[arm_driver\].*active at", 40)
    assert any(send_command(control, {})["torque"].values())
    assert interrupt(bringup) == 0, bringup.output[-3000:]
    assert not any(send_command(control, {})["torque"].values()), "torque left on after Ctrl-C"


def test_teleop_records_from_arms_at_the_ports_given(ros_testbed, ros_probe, tmp_path):
    follower_port, control = simulated_bus(ros_testbed, "so101_follower_sim.yaml")
    leader_port, _ = simulated_bus(ros_testbed, "so101_leader_sim.yaml", "--hand-motion")
    commands = ros_probe.collect(JointState, "/follower/joint_commands", qos_profile_sensor_data)
    bringup = start_bringup(
        ros_testbed, "teleop",
        f"leader_profile:={CONFIG / 'so101_leader_sim.yaml'}", f"leader_port:={leader_port}",
        f"follower_profile:={CONFIG / 'so101_follower_sim.yaml'}", f"follower_port:={follower_port}",
        "record:=true", f"output:={tmp_path / 'bags'}",
    )  # fmt: skip
    bringup.wait_for_output(r"\[recorder\].*subscribed /follower/joint_states", 40)
    commands.wait_for(5)
    assert interrupt(bringup) == 0, bringup.output[-3000:]
    assert not any(send_command(control, {})["torque"].values()), "torque left on after Ctrl-C"


def test_a_failing_node_makes_the_bringup_exit_non_zero(ros_testbed):
    bringup = start_bringup(ros_testbed, "follower", "port:=/dev/lerobot_no_such_adapter")
    code = bringup.wait(40)
    assert code == 1, bringup.output[-3000:]
    assert "failed: arm_driver exited with code 1 before Ctrl-C" in bringup.output


def test_camera_scenario_publishes_and_stops(ros_testbed, ros_probe):
    images = ros_probe.collect(Image, "/side/image_raw", qos_profile_sensor_data)
    bringup = start_bringup(
        ros_testbed, "camera", "source:=synthetic", "camera_name:=side", "width:=160", "height:=120"
    )
    assert images.wait_for(3)[0].width == 160
    os.kill(bringup.popen.pid, signal.SIGTERM)  # as a service manager stops it
    assert bringup.wait(30) == 0, bringup.output[-3000:]


def test_a_namespace_moves_the_whole_robot_recorded_and_converted(ros_testbed, ros_probe, tmp_path):
    """Two robots could share one graph: every topic, service and recorded name is under /arm1."""
    from lerobot_drivers.profile import load_profile
    from lerobot_msgs.srv import StartEpisode, StopEpisode
    from lerobot_recorder.convert import convert
    from lerobot_recorder.spec import DatasetSpec

    commands = ros_probe.collect(JointState, "/arm1/follower/joint_commands", qos_profile_sensor_data)
    wrist = ros_probe.collect(Image, "/arm1/wrist/image_raw", qos_profile_sensor_data)
    bringup = start_bringup(
        ros_testbed, "simulation", "namespace:=arm1", "record:=true", f"output:={tmp_path / 'bags'}"
    )
    recorded = ("follower/joint_commands", "follower/joint_states", "front/image_raw/compressed", "wrist/image_raw")
    for topic in recorded:  # every stream: the episode's frames start once all of them have data
        bringup.wait_for_output(rf"\[recorder\].*subscribed /arm1/{topic} ", 40)
    commands.wait_for(5)
    assert ros_probe.node.count_publishers("/follower/joint_states") == 0
    ros_probe.call(StartEpisode, "/arm1/start_episode", StartEpisode.Request(task="wave"))
    wrist.wait_for_more(90, timeout=40)  # 3 s of the 30 fps camera, however long a loaded machine takes
    bag = Path(ros_probe.call(StopEpisode, "/arm1/stop_episode", StopEpisode.Request(keep=True)).path)
    stopped_cleanly(bringup, buses=2)
    spec = DatasetSpec.from_profile(load_profile(CONFIG / "so101_follower_sim.yaml"), namespace="/arm1")
    (report,) = convert([bag], spec, tmp_path / "dataset", codec="libx264")
    assert report["frames"] >= 45, report
