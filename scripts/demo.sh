#!/usr/bin/env bash
# The main job: set-up (idempotent), then the suite end to end with no hardware.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
VENV="${LEROBOT_VENV:-$ROOT/.venv}"
exec "$VENV/bin/python" "$ROOT/scripts/demo.py" "$@"
