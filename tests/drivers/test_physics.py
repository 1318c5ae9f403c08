"""The simulated arm in MuJoCo: the real SDK and the suite's Arm drive the scene's actuators
over a pty; positions, speeds and loads come back from the physics; torque off is limp. The
references are MuJoCo's own state (joint angles, the tool site, gravity) and the camera's
projection of the cube, not the suite's conversions."""

import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from lerobot_drivers.arm import Arm
from lerobot_drivers.cameras import CameraError, CaptureLoop
from lerobot_drivers.profile import load_profile
from lerobot_drivers.sim.bus import SimulatedBus
from lerobot_drivers.sim.cli import servos_for
from lerobot_drivers.sim.objects import SceneObjects
from lerobot_drivers.sim.physics import PhysicsPlant
from lerobot_drivers.sim.render import SceneCamera
from lerobot_drivers.sim.scene import SceneError, build_model

CONFIG = Path(__file__).resolve().parents[2] / "config"
PROFILE = CONFIG / "so101_follower_sim.yaml"


@pytest.fixture
def physics(tmp_path):
    profile = load_profile(PROFILE)
    servos = servos_for(profile)
    plant = PhysicsPlant(profile, servos, "so101_pick", tmp_path / "scene.state")
    with SimulatedBus("feetech", servos, plant=plant) as bus:
        arm = Arm(profile, port=bus.port)
        arm.connect()
        try:
            yield arm, plant
        finally:
            arm.disconnect()
    plant.close()  # after the bus: it advances the physics until it stops


def run_for(arm: Arm, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        arm.command(arm.target)
        arm.cycle()
        time.sleep(0.01)


def angle(plant: PhysicsPlant, name: str) -> float:
    """The joint's angle in MuJoCo, from the middle of its range (the suite's zero)."""
    joint = plant.scene.joints[name]
    return float(plant.scene.data.qpos[joint.qpos]) - joint.scene_middle


@pytest.mark.slow
def test_commands_move_the_scenes_joints_and_readings_come_from_the_physics(physics):
    arm, plant = physics
    arm.activate()
    target = dict(arm.target, shoulder_pan=0.5, elbow_flex=-0.3)
    arm.command(target)
    run_for(arm, 2.0)
    # the pan carries no gravity load: MuJoCo's angle is the command, but for LeRobot's 4095
    # steps a turn in the driver against the servo's 4096
    assert angle(plant, "shoulder_pan") == pytest.approx(0.5 * 4096 / 4095, abs=2e-3)
    assert abs(angle(plant, "elbow_flex") + 0.3) < 0.05  # a kp-only actuator sags a little under gravity
    state = arm.read_state()
    for name in arm.names:  # what the driver reads is the physics' angle, in its own units
        assert state.positions[name] * 4096 / 4095 == pytest.approx(angle(plant, name), abs=3e-3), name
    load = plant.servos["shoulder_lift"].get("Present_Load")
    assert load != 0, "holding the arm against gravity loads the shoulder"


@pytest.mark.slow
def test_torque_off_leaves_the_arm_limp_under_gravity(physics):
    arm, plant = physics
    arm.activate()  # holds wherever the limp arm has fallen to by now: that depends on the machine's load
    arm.command({name: 0.0 for name in arm.names})  # the middle of every range: the tool about 0.2 m up
    deadline = time.monotonic() + 10
    while plant.scene.tool()[2] < 0.18 and time.monotonic() < deadline:
        run_for(arm, 0.1)
    run_for(arm, 0.3)
    held = plant.scene.tool()[2]
    arm.deactivate()
    deadline = time.monotonic() + 10
    fallen = held
    while fallen > held - 0.1 and time.monotonic() < deadline:
        time.sleep(0.1)
        with plant.lock:
            plant.advance(time.monotonic())
            fallen = plant.scene.tool()[2]
    assert held > 0.18 and fallen < held - 0.1, (held, fallen)  # held up, then down towards the table
    assert plant.servos["shoulder_lift"].get("Present_Load") == 0


def test_a_scene_without_the_profiles_joints_or_cameras_is_one_clear_line(tmp_path):
    text = PROFILE.read_text()
    absolute = text.replace("calibration/", f"{CONFIG}/calibration/")
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(absolute.replace("{name: elbow_flex,", "{name: elbow,"))
    with pytest.raises(SceneError, match=r"has no joint\(s\) \['elbow'\] of profile renamed; its joints"):
        build_model(load_profile(renamed), "so101_pick", simplify=False)
    unmounted = tmp_path / "unmounted.yaml"
    wrist_mount = "    mount: {parent: gripper_link, xyz: [-0.05, 0.0, -0.03], rpy: [0.0, 1.0175, 0.0]}\n"
    assert wrist_mount in text
    unmounted.write_text(absolute.replace(wrist_mount, ""))
    with pytest.raises(SceneError, match=r"has no camera 'wrist' .*give camera wrist a mount in profile unmounted"):
        build_model(load_profile(unmounted), "so101_pick", simplify=False)
    with pytest.raises(SceneError, match=r"scene 'kitchen' is neither a known scene \(so101_pick\) nor an MJCF"):
        build_model(load_profile(PROFILE), "kitchen", simplify=False)


@pytest.fixture
def resting_scene(tmp_path):
    profile = load_profile(PROFILE)
    plant = PhysicsPlant(profile, servos_for(profile), "so101_pick", tmp_path / "scene.state")
    yield plant
    plant.close()


def pink(image: np.ndarray) -> np.ndarray:
    """The cube's pixels: the scene paints it (0.6, 0.3, 0.6), purple whatever the shading."""
    r, g, b = (image[..., i].astype(int) for i in range(3))
    return (r - g > 50) & (b - g > 50) & (abs(r - b) < 30)


@pytest.mark.slow
def test_the_front_camera_sees_the_cube_where_a_pinhole_projects_it(resting_scene):
    plant = resting_scene
    plant.scene.place_cube((0.25, 0.08, 0.02))
    plant.advance(time.monotonic())
    camera = SceneCamera(320, 240, 10, state=str(plant.state.path), camera="front")
    camera.open()
    try:
        image = camera.read()
    finally:
        camera.close()
    model, data = plant.scene.model, plant.scene.data
    cam = model.camera("front")
    position, rotation = data.cam("front").xpos, data.cam("front").xmat.reshape(3, 3)
    local = rotation.T @ (plant.scene.cube() - position)  # MuJoCo's camera looks down -z, y up
    focal = 240 / 2 / math.tan(math.radians(model.cam_fovy[cam.id]) / 2)
    expected = np.array([160 + focal * local[0] / -local[2], 120 - focal * local[1] / -local[2]])
    rows, cols = np.nonzero(pink(image))
    assert len(rows) > 30, "the cube is in view"
    assert np.abs(np.array([cols.mean(), rows.mean()]) - expected).max() < 6, (cols.mean(), rows.mean(), expected)


@pytest.mark.slow
def test_a_scene_cameras_frames_are_stamped_when_the_scene_was_read_not_when_rendered(resting_scene):
    """Rendering takes tens of milliseconds: a frame stamped after the cube moved must show it
    moved, one stamped before must not (a policy enabled just after the move acted on a
    picture of the previous scene)."""
    plant = resting_scene
    plant.scene.place_cube((0.25, 0.08, 0.02))
    plant._publish()
    loop = CaptureLoop(SceneCamera(320, 240, 30, state=str(plant.state.path), camera="front"))
    loop.source.open()
    frames: list = []
    done = threading.Event()

    def keep_capturing() -> None:
        while not done.is_set():
            frames.append(loop.next_frame())

    capture = threading.Thread(target=keep_capturing)
    try:
        capture.start()
        time.sleep(0.5)
        before = time.time_ns()
        plant.scene.place_cube((0.25, -0.08, 0.02))
        plant._publish()
        after = time.time_ns()
        time.sleep(0.5)
    finally:
        done.set()
        capture.join()
        loop.source.close()
    first = np.nonzero(pink(frames[0].image))[1].mean()
    moved = [(f.stamp_ns, abs(np.nonzero(pink(f.image))[1].mean() - first) > 20) for f in frames]
    earlier = [shows for stamp, shows in moved if stamp < before - 1_000_000]
    later = [shows for stamp, shows in moved if stamp > after + 1_000_000]
    assert len(earlier) >= 3 and len(later) >= 3, moved
    assert not any(earlier) and all(later), [((stamp - before) / 1e6, shows) for stamp, shows in moved]


@pytest.mark.slow
def test_the_wrist_camera_follows_the_gripper(resting_scene):
    plant = resting_scene
    camera = SceneCamera(160, 120, 10, state=str(plant.state.path), camera="wrist")
    camera.open()
    try:
        before = camera.read()
        plant.scene.data.qpos[plant.scene.joints["wrist_flex"].qpos] += 0.8  # look down at the table
        plant._publish()
        after = camera.read()
    finally:
        camera.close()
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 10


def test_without_a_gl_backend_the_camera_names_mujoco_gl(tmp_path):
    """A fresh process asked for a backend this machine lacks: one line, naming the fix."""
    code = f"""
import sys
from pathlib import Path
from lerobot_drivers.profile import load_profile
from lerobot_drivers.sim.cli import servos_for
from lerobot_drivers.sim.objects import SceneObjects
from lerobot_drivers.sim.physics import PhysicsPlant
from lerobot_drivers.sim.render import SceneCamera
from lerobot_drivers.cameras import CameraError
profile = load_profile({str(PROFILE)!r})
plant = PhysicsPlant(profile, servos_for(profile), "so101_pick", Path({str(tmp_path / "scene.state")!r}))
try:
    SceneCamera(64, 48, 5, state=str(plant.state.path), camera="front").open()
except CameraError as exc:
    print(exc)
    sys.exit(3)
"""
    env = {**os.environ, "MUJOCO_GL": "osmesa"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr[-2000:]
    assert "set MUJOCO_GL=egl" in result.stdout and "libosmesa6" in result.stdout


def test_a_camera_without_a_scene_says_where_the_state_comes_from(tmp_path):
    with pytest.raises(CameraError, match=r"no scene state at .*: give the path `lerobot_sim_bus --scene` prints"):
        SceneCamera(64, 48, 5, state=str(tmp_path / "none.state"), camera="front").open()


def test_the_scenes_objects_are_posed_in_the_robots_root_frame(resting_scene):
    """The cube as rviz and Rerun draw it: where MuJoCo has it, turned as it is, its own size
    and colour (the scene file's); nothing of the arm, no floor plane."""
    plant = resting_scene
    scene = plant.scene
    joint = scene.model.body("block").jntadr[0]
    adr = scene.model.jnt_qposadr[joint]
    half_turn = 0.3  # about z: the quaternion (cos, 0, 0, sin) of a 0.6 rad turn, MuJoCo's w-first order
    scene.data.qpos[adr : adr + 7] = [0.22, -0.1, 0.02, math.cos(half_turn), 0.0, 0.0, math.sin(half_turn)]
    plant._publish()
    objects = SceneObjects(plant.state.path)
    try:
        shapes = objects.shapes()
    finally:
        objects.close()
    assert objects.frame == "base_link" and [s.name for s in shapes] == ["block"]
    cube = shapes[0]
    assert cube.kind == "box" and cube.size == pytest.approx((0.04, 0.04, 0.04))
    np.testing.assert_allclose(cube.position, [0.22, -0.1, 0.02], atol=1e-9)  # the arm's base is the world origin
    np.testing.assert_allclose(cube.quaternion, [0.0, 0.0, math.sin(half_turn), math.cos(half_turn)], atol=1e-9)
    assert cube.rgba == pytest.approx((0.6, 0.3, 0.6, 1.0))
