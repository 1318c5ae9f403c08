#!/usr/bin/env bash
# Set-up (idempotent), then lint and the whole test suite. Extra arguments go to pytest,
# e.g. `scripts/test.sh -m "not slow"` or `scripts/test.sh tests/drivers`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
VENV="${LEROBOT_VENV:-$ROOT/.venv}"
echo "[test] ruff check + format check"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check --quiet .
echo "[test] mypy (every Python package)"
# from outside the checkout: there the launch/ and src/<pkg> folders would shadow the real modules
SRC="$ROOT/src"
(cd "$(mktemp -d)" && MYPYPATH="$SRC/lerobot_drivers:$SRC/lerobot_bringup:$SRC/lerobot_recorder:$SRC/lerobot_policy" \
  "$VENV/bin/mypy" --config-file "$ROOT/pyproject.toml" -p lerobot_drivers -p lerobot_recorder -p lerobot_policy -p lerobot_bringup)
echo "[test] pytest"
exec "$VENV/bin/python" -m pytest "$@"
