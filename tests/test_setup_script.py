"""scripts/setup.sh: clear errors for missing prerequisites, and a fast no-op re-run."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "scripts" / "setup.sh"


def run_setup(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "LEROBOT_VENV": str(tmp_path / "venv"), **env}
    return subprocess.run(["bash", str(SETUP)], env=full_env, capture_output=True, text=True, timeout=120)


def path_without(tmp_path: Path, *missing: str) -> str:
    """A PATH holding every command of the current one except `missing`."""
    shadow = tmp_path / "bin"
    shadow.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not Path(folder).is_dir():
            continue
        for entry in Path(folder).iterdir():
            target = shadow / entry.name
            if entry.name not in missing and not target.exists():
                target.symlink_to(entry)
    return str(shadow)


def test_wrong_python_names_the_versions_to_install(tmp_path):
    fake = tmp_path / "python3.9"
    fake.write_text("#!/bin/sh\necho 3.9\n")
    fake.chmod(0o755)
    result = run_setup(tmp_path, PYTHON=str(fake))
    assert result.returncode != 0
    assert "Python 3.9" in result.stderr
    assert "only for Python 3.11 and 3.12" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_missing_cmake_says_what_to_install(tmp_path):
    result = run_setup(tmp_path, PATH=path_without(tmp_path, "cmake"), PYTHON=sys.executable)
    assert result.returncode != 0
    assert "cmake not found" in result.stderr
    assert "apt-get install cmake" in result.stderr
    assert not (tmp_path / "venv").exists()


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "python").exists(), reason="set-up has not run")
def test_rerun_with_nothing_changed_is_a_no_op():
    result = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for step in ("Python dependencies up to date", "lerobot_msgs up to date", "suite packages up to date"):
        assert step in result.stdout


def test_venv_imports_rclpy_messages_and_packages():
    code = "import rclpy, lerobot_msgs.msg, lerobot_msgs.srv, lerobot_drivers, lerobot_recorder, lerobot_policy"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(
    ("package", "command"),
    [("lerobot_drivers", "lerobot_motors"), ("lerobot_recorder", "lerobot_dataset_validate"),
     ("lerobot_policy", "lerobot_policy_train")],
)  # fmt: skip
def test_ros2_run_finds_every_executable_of_the_venv(package, command, monkeypatch):
    """As ros2run and launch_ros look an executable up: the package's prefix from the ament
    index (the activated venv sets AMENT_PREFIX_PATH), then lib/<package>/<executable>."""
    from importlib.metadata import distribution

    from ament_index_python.packages import get_package_prefix, get_package_share_directory

    monkeypatch.setenv("AMENT_PREFIX_PATH", sys.prefix)
    prefix = Path(get_package_prefix(package))
    assert prefix == Path(sys.prefix).resolve() or prefix == Path(sys.prefix)
    assert (Path(get_package_share_directory(package)) / "package.xml").is_file()
    scripts = [ep.name for ep in distribution(package).entry_points if ep.group == "console_scripts"]
    assert scripts
    for script in scripts:
        executable = prefix / "lib" / package / script
        assert os.access(executable, os.X_OK), f"{executable} is missing: re-run scripts/setup.sh"
    ran = subprocess.run([str(prefix / "lib" / package / command), "--help"], capture_output=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
