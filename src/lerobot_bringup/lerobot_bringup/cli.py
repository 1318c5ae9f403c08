"""`lerobot_bringup <scenario> [name:=value ...]`: a scenario without launch, as `ros2 launch
lerobot_bringup <scenario>.launch.py` starts it."""

from __future__ import annotations

import argparse
import shlex
import sys

from lerobot_bringup.errors import BringupError
from lerobot_bringup.runner import Bringup, command_line
from lerobot_bringup.scenario import parse_assignments
from lerobot_bringup.scenarios import SCENARIOS, scenario_named


def parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {s.name:<11} {s.summary}" for s in SCENARIOS.values())
    result = argparse.ArgumentParser(
        prog="lerobot_bringup",
        description=__doc__.split("\n")[0],
        epilog=f"scenarios:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    result.add_argument("scenario", help="one of: " + ", ".join(SCENARIOS))
    result.add_argument("arguments", nargs="*", metavar="name:=value", help="the scenario's arguments")
    result.add_argument("--show-args", action="store_true", help="list the scenario's arguments and exit")
    result.add_argument("--print", action="store_true", help="print the command of each process and exit")
    return result


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_intermixed_args(argv)
    try:
        scenario = scenario_named(args.scenario)
        if args.show_args:
            print(f"{scenario.name}: {scenario.summary}\narguments (name:=value):")
            for argument in scenario.arguments:
                print(f"  {argument.name}\n      {argument.description}\n      (default: {argument.default!r})")
            return 0
        processes = scenario.processes(parse_assignments(args.arguments))
        if args.print:
            for process in processes:
                if process.ros_only:
                    print(f"# {process.name}: under ros2 launch only")
                    continue
                waits = f"  # after {', '.join(process.after)} is ready" if process.after else ""
                print(shlex.join(command_line(process)) + waits)
            return 0
        return Bringup(processes).run()
    except BringupError as exc:
        print(f"lerobot_bringup: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
