#!/usr/bin/env bash
# LeRobot itself judges the suite's datasets: a dataset made by the converter is loaded by
# LeRobot 0.4.4 (the release that installs on Python 3.11), offline, compared value by value,
# and trained on for a few steps. LeRobot lives in its own venv (.venv-lerobot, ~8 GB: it
# needs torch < 2.11); not part of scripts/test.sh for that reason.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
LEROBOT_VENV="$ROOT/.venv-lerobot"
if [ ! -x "$LEROBOT_VENV/bin/python" ] || ! "$LEROBOT_VENV/bin/python" -c "import lerobot" 2>/dev/null; then
  echo "[compat] creating $LEROBOT_VENV with lerobot 0.4.4 (several GB, a few minutes)"
  "${PYTHON:-python3.11}" -m venv "$LEROBOT_VENV"
  "$LEROBOT_VENV/bin/pip" install --quiet "lerobot==0.4.4" "torch==2.9.1" "torchvision==0.24.1"
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
.venv/bin/python tests/lerobot_compat/make_dataset.py "$WORK"
"$LEROBOT_VENV/bin/python" tests/lerobot_compat/check_with_lerobot.py "$WORK"
