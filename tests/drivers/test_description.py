"""The robots' URDFs: parsed, checked against the profiles and calibrations, and posed by the
joint states as MuJoCo poses the same arm's own MJCF (a model this suite did not write)."""

from pathlib import Path

import mujoco
import numpy as np
import pytest

from lerobot_drivers.calibration import load_calibration, radian_limits
from lerobot_drivers.description import DescriptionError, _packaged_so101, description_for, load_description
from lerobot_drivers.errors import ProfileError
from lerobot_drivers.profile import load_profile

CONFIG = Path(__file__).resolve().parents[2] / "config"
DESCRIBED = sorted(p.name for p in CONFIG.glob("*.yaml") if load_profile(p).description)


def test_the_so101_and_koch_profiles_are_described():
    so101 = {"so101_follower.yaml", "so101_leader.yaml", "so101_follower_sim.yaml", "so101_leader_sim.yaml"}
    assert so101 | {"koch_follower.yaml", "koch_follower_sim.yaml", "koch_leader.yaml"} <= set(DESCRIBED)


@pytest.mark.parametrize("name", DESCRIBED)
def test_joint_names_are_the_profiles(name):
    profile = load_profile(CONFIG / name)
    assert sorted(description_for(profile).movable) == sorted(profile.joint_names)


@pytest.mark.parametrize("name", ["so101_follower_sim.yaml", "so101_leader_sim.yaml"])
def test_limits_agree_with_the_calibrated_ranges(name):
    """Both are centred on zero; a range recorded by hand spans the URDF's within a quarter (a
    unit or joint mix-up is off by far more), except a joint that turns freely."""
    profile = load_profile(CONFIG / name)
    description, calibration = description_for(profile), load_calibration(profile.calibration)
    for joint in profile.joints:
        lower, upper = description.movable[joint.name].limits
        assert lower == pytest.approx(-upper), joint.name
        if not joint.full_turn:
            low, high = radian_limits(calibration[joint.name])
            assert low == pytest.approx(-high), joint.name
            assert 0.75 < high / upper < 1.25, (joint.name, (low, high), (lower, upper))


def mujoco_arm():
    model = mujoco.MjModel.from_xml_path(str(_packaged_so101().with_suffix(".xml")))
    return model, mujoco.MjData(model)


@pytest.mark.parametrize("seed", range(4))
def test_forward_kinematics_match_mujoco_on_the_same_arm(seed):
    description = description_for(load_profile(CONFIG / "so101_follower_sim.yaml"))
    model, data = mujoco_arm()
    rng = np.random.default_rng(seed)
    positions = {}
    for name, joint in description.movable.items():
        positions[name] = rng.uniform(*joint.limits)
        index = model.joint(name).id
        data.qpos[model.jnt_qposadr[index]] = positions[name] + model.jnt_range[index].mean()  # MJCF: not centred
    mujoco.mj_kinematics(model, data)
    base = data.body("base")
    pairs = {f"{body}_link": body for body in ("shoulder", "upper_arm", "lower_arm", "wrist", "gripper")}
    pairs["moving_jaw_so101_v1_link"] = "moving_jaw_so101_v1"
    for link, body in pairs.items():
        pose = description.pose(link, positions)
        expected = data.body(body).xmat.reshape(3, 3)
        assert np.abs(pose[:3, 3] - (data.body(body).xpos - base.xpos)).max() < 1e-5, link
        assert np.abs(pose[:3, :3] - expected).max() < 1e-4, link
    tip = description.pose("gripper_frame_link", positions)[:3, 3]
    assert np.abs(tip - (data.site("gripperframe").xpos - base.xpos)).max() < 1e-5


def test_a_known_pose_the_arm_folded_at_the_middle_of_its_ranges():
    """All joints at zero (the middle of each range): the tip is ahead of the base and above it."""
    description = description_for(load_profile(CONFIG / "so101_follower_sim.yaml"))
    model, data = mujoco_arm()
    for name in description.movable:
        index = model.joint(name).id
        data.qpos[model.jnt_qposadr[index]] = model.jnt_range[index].mean()
    mujoco.mj_kinematics(model, data)
    tip = description.pose("gripper_frame_link", {})[:3, 3]
    np.testing.assert_allclose(tip, data.site("gripperframe").xpos - data.body("base").xpos, atol=1e-5)
    assert tip[0] > 0.3 and tip[2] > 0.2  # 39 cm ahead, 23 cm up


def test_meshes_resolve_to_files():
    description = description_for(load_profile(CONFIG / "so101_follower.yaml"))
    uris = [part.split('"')[0] for part in description.urdf.split('filename="')[1:]]
    assert uris and all(Path(uri.removeprefix("file://")).is_file() for uri in uris)


def test_a_urdf_without_the_profiles_joints_is_one_clear_line(tmp_path):
    urdf = tmp_path / "arm.urdf"
    urdf.write_text(_packaged_so101().read_text().replace('name="elbow_flex"', 'name="elbow"'))
    profile = tmp_path / "arm.yaml"
    profile.write_text(
        (CONFIG / "so101_follower_sim.yaml").read_text().replace("description: so101", f"description: {urdf}")
    )
    with pytest.raises(
        DescriptionError, match=r"has no movable joint\(s\) \['elbow_flex'\] of profile arm; its joints"
    ):
        description_for(load_profile(profile))
    urdf.write_text("<robot")
    with pytest.raises(DescriptionError, match=r"cannot read the URDF .*arm.urdf"):
        load_description(urdf)
    with pytest.raises(DescriptionError, match=r"profile ros2_control_arm has no `description`"):
        description_for(load_profile(CONFIG / "ros2_control_arm.yaml"))


def test_the_tool_is_the_so101s_gripper_frame():
    """The end of the longest chain; its moving jaw ends a chain as long, the tool frame is fixed."""
    assert description_for(load_profile(CONFIG / "so101_follower.yaml")).tool_link == "gripper_frame_link"


# the Koch v1.1's published joint origins (koch-v1-1 CAD), base to tool, all at rpy 0
KOCH_OFFSETS = [(0.005766, -0.028665, 0.018513), (0.0, -0.011858, 0.020066), (0.020713, 0.0, 0.015368),
                (-0.038026, -0.014951, 0.108424), (-0.000251, -0.100502, 0.002641), (0.019234, 0.00037, -0.044779),
                (-0.008, 0.0, -0.065)]  # fmt: skip


def test_koch_known_poses_from_its_published_dimensions():
    """At zero every frame is parallel, so the tool sits at the sum of the offsets; the pan
    turns everything after its axis about z; the gripper's zero is the middle of its range."""
    description = description_for(load_profile(CONFIG / "koch_follower_sim.yaml"))
    assert description.tool_link == "gripper_frame_link"
    np.testing.assert_allclose(
        description.pose("gripper_frame_link", {})[:3, 3], np.sum(KOCH_OFFSETS, axis=0), atol=1e-9
    )
    pan_axis = np.sum(KOCH_OFFSETS[:2], axis=0)
    beyond = np.sum(KOCH_OFFSETS[2:], axis=0)
    turned = description.pose("gripper_frame_link", {"shoulder_pan": np.pi / 2})[:3, 3]
    np.testing.assert_allclose(turned, pan_axis + np.array([-beyond[1], beyond[0], beyond[2]]), atol=1e-9)
    assert description.movable["gripper"].limits == pytest.approx((-0.875, 0.875))


def test_the_front_camera_sits_where_lerobot_env_so101s_scene_camera_does():
    """The sim profile's front mount, through the URDF, against the scene's own `front` camera
    (MuJoCo's cameras look down -z with y up; a ROS optical frame looks down z with y down)."""
    description = description_for(load_profile(CONFIG / "so101_follower_sim.yaml"))
    model = mujoco.MjModel.from_xml_path(str(_packaged_so101().parent / "pick_scene.xml"))
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)  # cameras are placed after the bodies (mj_camlight)
    optical = description.pose("front_camera_optical_frame", {})
    np.testing.assert_allclose(optical[:3, 3], data.cam("front").xpos - data.body("base").xpos, atol=1e-6)
    np.testing.assert_allclose(optical[:3, :3], data.cam("front").xmat.reshape(3, 3) @ np.diag([1, -1, -1]), atol=1e-5)


@pytest.mark.parametrize("name", ["so101_follower_sim.yaml", "koch_follower_sim.yaml"])
def test_the_wrist_camera_looks_at_the_jaw_tips_whatever_the_pose(name):
    profile = load_profile(CONFIG / name)
    description = description_for(profile)
    assert description.tool_link == "gripper_frame_link"  # camera frames are never the tool
    rng = np.random.default_rng(0)
    for _ in range(3):
        pose = {joint: rng.uniform(*j.limits) for joint, j in description.movable.items() if j.limits}
        camera = description.pose("wrist_camera_optical_frame", pose)
        seen = np.linalg.inv(camera) @ description.pose(description.tool_link, pose)[:, 3]
        assert 0.04 < seen[2] < 0.1 and np.hypot(seen[0], seen[1]) < 0.005, seen  # ahead, on the optical axis


def test_a_bad_camera_mount_is_one_clear_line(tmp_path):
    profile = tmp_path / "arm.yaml"
    text = (CONFIG / "so101_follower_sim.yaml").read_text()
    profile.write_text(text.replace("parent: gripper_link", "parent: hand_link"))
    with pytest.raises(DescriptionError, match=r"camera wrist is mounted on link 'hand_link', which the URDF .* lacks"):
        description_for(load_profile(profile))
    profile.write_text(text.replace("xyz: [0.8, 0.0, 0.5]", "xyz: [0.8, 0.5]"))
    with pytest.raises(ProfileError, match=r"camera 'front': mount xyz must be three finite numbers, got \[0.8, 0.5\]"):
        load_profile(profile)
    profile.write_text(text.replace("{parent: base_link,", "{frame: base_link,"))
    with pytest.raises(ProfileError, match=r"camera 'front': .* is not a mount; write mount: \{parent:"):
        load_profile(profile)
