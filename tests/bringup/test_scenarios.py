"""The scenarios' core: arguments, bad input, and the two renderings agreeing."""

import ast
import runpy
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from lerobot_bringup import BringupError
from lerobot_bringup.runner import command_line, executable_path
from lerobot_bringup.scenario import Process, ReadinessGate, parse_assignments
from lerobot_bringup.scenarios import CONFIG, SCENARIOS, scenario_named

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "launch"
RUNNABLE = {  # arguments that make each scenario composable here
    "sim_arm": {"rviz": "true"},
    "follower": {"port": "/dev/ttyACM0"},
    "camera": {"source": "synthetic"},
    "teleop": {"record": "true", "output": "/tmp/bags"},
    "simulation": {"record": "true", "namespace": "arm1", "rviz": "true"},
}


def test_every_scenario_has_an_installed_launch_file_and_back():
    rendered = {}
    for path in LAUNCH.glob("*.launch.py"):
        calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)]
        names = [c.args[0].value for c in calls if getattr(c.func, "id", "") == "launch_description"]
        assert len(names) == 1, f"{path.name} renders no scenario"
        rendered[path.name] = names[0]
    assert rendered == {f"{name}.launch.py": name for name in SCENARIOS}
    setup = (ROOT / "src" / "lerobot_bringup" / "setup.py").read_text()
    assert 'files("launch/*.launch.py")' in setup
    assert (ROOT / "src" / "lerobot_bringup" / "launch").resolve() == LAUNCH


def test_every_argument_is_described_once():
    for scenario in SCENARIOS.values():
        names = [a.name for a in scenario.arguments]
        assert len(names) == len(set(names)), scenario.name
        for argument in scenario.arguments:
            assert len(argument.description) > 10, f"{scenario.name}:{argument.name}"


def test_default_profiles_exist_where_the_install_puts_them():
    for scenario in SCENARIOS.values():
        for argument in scenario.arguments:
            if argument.name.endswith("profile"):
                assert Path(argument.default).is_file(), argument.default
                assert Path(argument.default).parent == CONFIG


@pytest.mark.parametrize("name", sorted(RUNNABLE))
def test_scenarios_compose_and_name_installed_executables(name):
    processes = SCENARIOS[name].processes(RUNNABLE[name])
    for process in (p for p in processes if not p.ros_only):
        path = executable_path(process)
        assert path.is_file(), path
        assert path.parent.name == process.package, "found where `ros2 run` looks: lib/<package>/"


def test_the_simulation_waits_for_its_buses_and_links_its_own_ports():
    processes = {p.name: p for p in SCENARIOS["simulation"].processes({})}
    assert processes["arm_driver"].after == ("follower_bus",)
    assert processes["leader_arm"].after == ("leader_bus",)
    port = processes["arm_driver"].parameters["port"]
    assert port in processes["follower_bus"].arguments
    assert port != processes["leader_arm"].parameters["port"]
    assert str(__import__("os").getpid()) in port, "one port link per bringup"
    assert "recorder" not in processes  # record:=false by default


def test_a_namespace_moves_every_node_and_no_simulator():
    processes = SCENARIOS["simulation"].processes({"namespace": "lab/arm1", "record": "true"})
    assert {p.name: p.namespace for p in processes if p.node} == dict.fromkeys(
        ("arm_driver", "leader_arm", "camera_front", "camera_wrist", "robot_state_publisher", "recorder"), "/lab/arm1"
    )
    assert all("__ns" not in " ".join(p.arguments) for p in processes if not p.node)


def test_robot_state_publisher_gets_the_urdf_under_ros2_launch_only():
    processes = {p.name: p for p in SCENARIOS["sim_arm"].processes({})}
    publisher = processes["robot_state_publisher"]
    assert publisher.ros_only and not publisher.lifecycle
    assert publisher.parameters["robot_description"].startswith("<robot")
    tf = (("/tf", "tf"), ("/tf_static", "tf_static"))  # a TF tree per namespace
    assert publisher.remappings == (("joint_states", "follower/joint_states"), *tf)
    links = {link.get("name") for link in ET.fromstring(publisher.parameters["robot_description"]).iter("link")}
    assert {"front_camera_optical_frame", "wrist_camera_optical_frame"} <= links  # the images' frames, in TF
    cameras = [processes[f"camera_{name}"].parameters for name in ("front", "wrist")]
    assert [c["camera_name"] for c in cameras] == ["front", "wrist"]  # frame_id: <camera_name>_camera_optical_frame
    from lerobot_bringup.runner import Bringup

    assert "robot_state_publisher" not in {p.name for p in Bringup(list(processes.values())).processes}


def test_the_rviz_view_shows_the_robot_its_cameras_and_the_policys_chunk():
    from lerobot_drivers.description import description_for
    from lerobot_drivers.profile import load_profile, resolve_topic

    view = yaml.safe_load((CONFIG / "arm.rviz").read_text())["Visualization Manager"]
    displays = {d["Name"]: d for d in view["Displays"] if d["Class"] != "rviz_default_plugins/Image"}
    images = [d["Topic"] for d in view["Displays"] if d["Class"] == "rviz_default_plugins/Image"]
    for name in ("so101_follower.yaml", "so101_follower_sim.yaml", "koch_follower.yaml", "koch_follower_sim.yaml"):
        profile = load_profile(CONFIG / name)
        assert view["Global Options"]["Fixed Frame"] == description_for(profile).root
        assert sorted(resolve_topic(c.topic) for c in profile.cameras) == sorted(t["Value"] for t in images)
    assert all(t["Reliability Policy"] == "Best Effort" for t in images), "the cameras publish sensor-data QoS"
    assert displays["RobotModel"]["Description Topic"]["Value"] == "/robot_description"
    assert displays["PolicyChunk"]["Topic"]["Value"] == "/policy/chunk_path"
    assert displays["SceneObjects"]["Topic"]["Value"] == "/scene/markers"  # the scene node's, reliable
    assert displays["SceneObjects"]["Topic"]["Reliability Policy"] == "Reliable"
    assert "TF" in displays
    (rviz,) = [p for p in SCENARIOS["simulation"].processes({"rviz": "true", "namespace": "arm1"}) if p.name == "rviz2"]
    assert rviz.ros_only and rviz.arguments == ("-d", str(CONFIG / "arm.rviz")) and rviz.namespace == "/arm1"
    shown = {
        "/robot_description",
        "/policy/chunk_path",
        "/scene/markers",
        "/front/image_raw/compressed",
        "/wrist/image_raw",
    }
    assert dict(rviz.remappings) == {"/tf": "tf", "/tf_static": "tf_static"} | {t: t[1:] for t in shown}


def test_a_scene_brings_its_cameras_and_objects_after_the_bus():
    for name in ("sim_arm", "simulation"):
        processes = {p.name: p for p in SCENARIOS[name].processes({"scene": "so101_pick"})}
        state = processes["follower_bus"].arguments[processes["follower_bus"].arguments.index("--state") + 1]
        for node in ("camera_front", "camera_wrist", "scene_objects"):
            assert processes[node].parameters["scene"] == state and processes[node].after == ("follower_bus",)
        assert "scene_objects" not in {p.name for p in SCENARIOS[name].processes({})}


def test_cameras_follow_the_profile():
    processes = {p.name: p for p in SCENARIOS["sim_arm"].processes({})}
    front, wrist = processes["camera_front"].parameters, processes["camera_wrist"].parameters
    assert front["publish_compressed"] and not front["publish_raw"]  # topic .../compressed
    assert wrist["publish_raw"] and not wrist["publish_compressed"]


@pytest.mark.parametrize(
    ("name", "given", "message"),
    [
        ("sim_arm", {"profil": "x.yaml"}, r"scenario 'sim_arm' has no argument 'profil'; its arguments: profile"),
        ("sim_arm", {"profile": "/nowhere/arm.yaml"}, r"profile: .*/nowhere/arm.yaml does not exist.*give profile:="),
        ("sim_arm", {"emulate_wire": "yes"}, r"emulate_wire must be true or false, got 'yes'"),
        ("policy", {}, r"policy_path: \(empty\) is not a trained policy folder.*give policy_path:="),
        ("policy", {"policy_path": "/tmp"}, r"policy_path: /tmp is not a trained policy folder \(missing config.json"),
        ("camera", {"width": "wide"}, r"width, height and fps must be numbers"),
        ("sim_arm", {"namespace": "arm 1"}, r"namespace 'arm 1' is not a ROS namespace \(such as arm1"),
    ],
)
def test_bad_input_is_one_clear_line(name, given, message):
    with pytest.raises(BringupError, match=message) as caught:
        SCENARIOS[name].processes(given)
    assert "\n" not in str(caught.value)


def test_bad_scenario_and_assignment():
    with pytest.raises(BringupError, match=r"no scenario 'sim'; the scenarios: sim_arm, "):
        scenario_named("sim")
    with pytest.raises(BringupError, match=r"expected an argument as name:=value, got 'profile=x'"):
        parse_assignments(["profile=x"])
    assert parse_assignments(["task:=a:=b", "output:="]) == {"task": "a:=b", "output": ""}


def test_the_command_line_keeps_parameter_types_as_ros_parses_them():
    """rcl itself parses the values: a task reading 'true' or '30' stays a string."""
    import rclpy

    values = {"task": "true", "output": "30", "path": "/a b/c:d.yaml", "width": 640, "fps": 30.0, "on": True}
    args = Process("probe", "p", "e", parameters=values).ros_arguments()
    context = rclpy.Context()
    rclpy.init(args=["x", *args], context=context)
    try:
        node = rclpy.create_node("probe", context=context, automatically_declare_parameters_from_overrides=True)
        assert {name: node.get_parameter(name).value for name in values} == values
        assert node.get_name() == "probe"
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def test_readiness_gate_starts_waiting_processes_once():
    bus = Process("bus", "p", "sim", node=False, ready=r"^port: ")
    driver = Process("driver", "p", "drv", after=("bus",))
    gate = ReadinessGate([bus, driver])
    assert gate.output("bus", "control: /x") == []
    assert gate.output("bus", "port: /tmp/x") == [driver]
    assert gate.output("bus", "port: /tmp/x") == []
    assert gate.output("driver", "port: /tmp/x") == []


# --- the launch rendering ---------------------------------------------------------------------
# launch and launch_ros are not installable here (no registry has them): these stand-ins record
# what launch_render gives them, so the test can compare it with what lerobot_bringup runs.


class Recorded:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


def stand_in_launch(monkeypatch):
    modules = {
        "launch": {"LaunchDescription": Recorded, "LaunchContext": dict},
        "launch.actions": dict.fromkeys(
            ("DeclareLaunchArgument", "ExecuteProcess", "OpaqueFunction", "RegisterEventHandler"), Recorded
        ),
        "launch.event_handlers": {"OnProcessIO": Recorded},
        "launch.substitutions": {
            "LaunchConfiguration": type("LaunchConfiguration", (Recorded,), {"perform": lambda s, c: c[s.args[0]]})
        },
        "launch_ros": {},
        "launch_ros.actions": {
            "LifecycleNode": type("LifecycleNode", (Recorded,), {}),
            "Node": type("Node", (Recorded,), {}),
        },
        "launch_ros.substitutions": {"ExecutableInPackage": Recorded},
    }
    for name, attributes in modules.items():
        monkeypatch.setitem(sys.modules, name, types.SimpleNamespace(**attributes))
    monkeypatch.delitem(sys.modules, "lerobot_bringup.launch_render", raising=False)


def as_launched(action: Recorded) -> dict:
    """The fields a process gets from its launch action."""
    if "cmd" in action.kwargs:
        executable, *arguments = action.kwargs["cmd"]
        package, name = executable.args[1], executable.args[0]
        return {"name": action.kwargs["name"], "package": package, "executable": name, "arguments": arguments}
    k = action.kwargs
    return {
        "name": k["name"], "package": k["package"], "executable": k["executable"], "namespace": k["namespace"],
        "parameters": k["parameters"][0], "remappings": k["remappings"], "arguments": k["arguments"],
    }  # fmt: skip


def as_declared(process: Process) -> dict:
    fields = {"name": process.name, "package": process.package, "executable": process.executable}
    if not process.node:
        return fields | {"arguments": list(process.arguments)}
    return fields | {
        "namespace": process.namespace,
        "parameters": dict(process.parameters),
        "remappings": list(process.remappings),
        "arguments": list(process.arguments),
    }


def as_run(process: Process) -> dict:
    """The same fields read back from the command line lerobot_bringup runs."""
    path, *rest = command_line(process)
    ros = rest.index("--ros-args") if "--ros-args" in rest else len(rest)
    fields = {"name": process.name, "package": Path(path).parent.name, "executable": Path(path).name}
    if not process.node:
        return fields | {"arguments": rest[:ros]}
    pairs = [(flag, value.split(":=", 1)) for flag, value in zip(rest[ros + 1 :: 2], rest[ros + 2 :: 2], strict=True)]
    remaps = dict(pair for flag, pair in pairs if flag == "-r")
    return fields | {
        "name": remaps.pop("__node"),
        "namespace": remaps.pop("__ns", ""),
        "parameters": {name: yaml.safe_load(value) for flag, (name, value) in pairs if flag == "-p"},
        "remappings": list(remaps.items()),
        "arguments": rest[:ros],
    }


@pytest.mark.parametrize("name", sorted(RUNNABLE))
def test_launch_file_and_lerobot_bringup_start_the_same_processes(name, monkeypatch):
    stand_in_launch(monkeypatch)
    description = runpy.run_path(str(LAUNCH / f"{name}.launch.py"))["generate_launch_description"]()
    *declared, opaque = description.args[0]
    scenario = SCENARIOS[name]
    assert [(d.args[0], d.kwargs) for d in declared] == [
        (a.name, {"default_value": a.default, "description": a.description}) for a in scenario.arguments
    ]
    context = scenario.resolve(RUNNABLE[name])
    actions = opaque.kwargs["function"](context, *opaque.kwargs["args"])
    handlers = [a.args[0] for a in actions if a.args and isinstance(a.args[0], Recorded)]
    started = [as_launched(a) for a in actions if a.kwargs.get("name")]
    for handler in handlers:  # the simulators print their ports: their drivers start
        port_line = types.SimpleNamespace(text=b"port: /dev/pts/9\n")
        started += [as_launched(a) for a in handler.kwargs["on_stdout"](port_line)]
    processes = scenario.processes(RUNNABLE[name])
    expected = [as_run(process) for process in processes if not process.ros_only]
    launch_only = {p.name: p for p in processes if p.ros_only}
    in_both = [fields for fields in started if fields["name"] not in launch_only]
    assert sorted(in_both, key=lambda f: f["name"]) == sorted(expected, key=lambda f: f["name"])
    for fields in started:
        if (process := launch_only.get(fields["name"])) is not None:
            assert fields == as_declared(process)
    waiting = {p.name for p in scenario.processes(RUNNABLE[name]) if p.after}
    assert waiting.isdisjoint(a.kwargs.get("name") for a in actions), "started before its simulator's port"
