"""A scenario as a launch description: the same processes `lerobot_bringup` starts.

The arguments are resolved when the launch runs (an OpaqueFunction), then each process becomes
a LifecycleNode or, for a simulator, an ExecuteProcess of its package's executable; the
processes waiting for a simulator start when it prints its port.
"""

from __future__ import annotations

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessIO
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.substitutions import ExecutableInPackage

from lerobot_bringup.scenario import Process, ReadinessGate, Scenario
from lerobot_bringup.scenarios import scenario_named


def launch_description(name: str) -> LaunchDescription:
    scenario = scenario_named(name)
    declared = [
        DeclareLaunchArgument(a.name, default_value=a.default, description=a.description) for a in scenario.arguments
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=_actions, args=[scenario])])


def _action(process: Process) -> ExecuteProcess:
    if not process.node:
        command = [ExecutableInPackage(process.executable, process.package), *process.arguments]
        return ExecuteProcess(cmd=command, name=process.name, output="screen")
    kind = LifecycleNode if process.lifecycle else Node
    return kind(
        package=process.package,
        executable=process.executable,
        name=process.name,
        namespace=process.namespace,
        parameters=[dict(process.parameters)],
        remappings=list(process.remappings),
        arguments=list(process.arguments),
        output="screen",
    )


def _actions(context: LaunchContext, scenario: Scenario) -> list:
    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in scenario.arguments}
    processes = scenario.processes(values)
    actions = {process.name: _action(process) for process in processes}
    gate = ReadinessGate(processes)

    def on_output(name: str):
        return lambda event: [actions[p.name] for p in gate.output(name, event.text.decode(errors="replace"))]

    handlers = [
        RegisterEventHandler(OnProcessIO(target_action=actions[name], on_stdout=on_output(name)))
        for name in gate.patterns
    ]
    return handlers + [actions[process.name] for process in processes if not process.after]
