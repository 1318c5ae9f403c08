#!/usr/bin/env bash
# LeRobot 0.6.1 itself judges the suite, both ways, on this machine's CPU and offline:
# - datasets: one converted by the suite is loaded by LeRobotDataset, compared value by value,
#   and trained on by lerobot-train for a few steps;
# - policy, LeRobot -> suite: a small pi05 built and saved by LeRobot's classes loads through
#   the suite's PolicyBundle, and prompts, token ids, per-element training losses and
#   velocities, sampled actions and per-step velocities (also with a camera missing), and actions
#   guided by real-time chunking towards a leftover chunk, match
#   LeRobot's in fp32 (1e-5) and with dtype bfloat16 (1% of the largest value);
# - policy, suite -> LeRobot: a policy trained by the suite's trainer loads in
#   PI05Policy.from_pretrained (strict) and predict_action_chunk gives the suite's actions.
# LeRobot 0.6.1 needs Python 3.12: it lives in its own venv (.venv-lerobot, about 5.7 GB), so
# this is not part of scripts/test.sh. tests/policy/test_lerobot_reference.py guards the policy
# part in the normal suite with references this script regenerates (--update-reference).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
LEROBOT_VENV="$ROOT/.venv-lerobot"
find_python312() {
  if [ -n "${PYTHON312:-}" ]; then echo "$PYTHON312"; return; fi
  if PYENV_VERSION=3.12.1 python3.12 -c 'import sys' 2>/dev/null; then echo "env PYENV_VERSION=3.12.1 python3.12"; return; fi
  command -v python3.12 || true
}
if [ ! -x "$LEROBOT_VENV/bin/python" ] || ! "$LEROBOT_VENV/bin/python" -c "import lerobot, accelerate" 2>/dev/null; then
  PY312="$(find_python312)"
  [ -n "$PY312" ] || { echo "[compat] LeRobot 0.6.1 needs Python 3.12: install it or set PYTHON312=/path/to/python3.12" >&2; exit 1; }
  echo "[compat] creating $LEROBOT_VENV with lerobot 0.6.1 (about 5.7 GB, a few minutes)"
  $PY312 -m venv "$LEROBOT_VENV"
  "$LEROBOT_VENV/bin/pip" install --quiet "lerobot[dataset,pi]==0.6.1" accelerate psutil
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
SUITE=.venv/bin/python
JUDGE="$LEROBOT_VENV/bin/python"
started=$SECONDS
echo "[compat] datasets"
$SUITE tests/lerobot_compat/make_dataset.py "$WORK"
$JUDGE tests/lerobot_compat/check_with_lerobot.py "$WORK"
echo "[compat] policy"
$SUITE tests/lerobot_compat/suite_side.py inputs "$WORK"
$JUDGE tests/lerobot_compat/lerobot_side.py reference "$WORK"
$SUITE tests/lerobot_compat/suite_side.py compare "$WORK"
$SUITE tests/lerobot_compat/suite_side.py train "$WORK" "$WORK/dataset"
$JUDGE tests/lerobot_compat/lerobot_side.py check "$WORK"
if [ "${1:-}" = "--update-reference" ]; then
  $SUITE tests/lerobot_compat/suite_side.py keep "$WORK" tests/policy/data/lerobot_pi05
fi
echo "[compat] LeRobot 0.6.1 agrees with the suite, both ways ($((SECONDS - started)) s)"
