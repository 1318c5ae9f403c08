"""Launch files: `launch`/`launch_ros` are not installable here, so they cannot run in this
suite; this checks what can be checked without them: that they compile, define
generate_launch_description, and name only executables our packages install."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))


def installed_executables() -> dict[str, set[str]]:
    found = {}
    for setup in (ROOT / "src").glob("*/setup.py"):
        found[setup.parent.name] = set(re.findall(r'"(\w+) = [\w.]+:main"', setup.read_text()))
    return found


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_names_real_executables(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    executables = installed_executables()
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        keywords = {k.arg: k.value for k in call.keywords}
        if "package" in keywords and "executable" in keywords:
            package, executable = (
                ast.literal_eval(keywords["package"]),
                ast.literal_eval(keywords["executable"]),
            )
            assert executable in executables.get(package, set()), (
                f"{path.name}: {package}/{executable} is not installed"
            )
        for element in ast.walk(call):  # commands run through ExecuteProcess
            if isinstance(element, ast.List) and element.elts and isinstance(element.elts[0], ast.Constant):
                first = element.elts[0].value
                if isinstance(first, str) and first.startswith("lerobot_"):
                    assert any(first in names for names in executables.values()), f"{path.name}: {first}"


def test_every_launch_file_is_checked():
    assert len(LAUNCH_FILES) >= 4


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_every_launch_argument_is_described(path):
    """`ros2 launch <file> --show-args` prints each argument's description."""
    tree = ast.parse(path.read_text(), filename=str(path))
    declared = [
        call
        for call in ast.walk(tree)
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "DeclareLaunchArgument"
    ]
    assert declared
    for call in declared:
        assert "description" in {k.arg for k in call.keywords}, f"{path.name}:{call.lineno} has no description"
