"""The full-size row of bench/vla.py (see its docstring): each model in its own process, so
that both can be timed in turn, and memory comes back when one is done."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
JUDGE = ROOT / ".venv-lerobot" / "bin" / "python"
THREADS, ROUNDS = 2, 3
PARAMETERS = 4.14e9  # gemma_2b + gemma_300m + SigLIP so400m with the untied heads
ACTIONS_BOUND = 1e-3  # fp32 suite against fp32 LeRobot, full size: 36 layers of accumulation order


def matmul_rate(dtype: torch.dtype, rows: int = 1024) -> float:
    """FLOP/s of a (rows x 2048) @ (2048 x 2048) matmul, best of three, this run's threads."""
    a, b = torch.randn(rows, 2048).to(dtype), torch.randn(2048, 2048).to(dtype)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(3))
    return 2 * rows * 2048 * 2048 / best


def _timed(step) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


class Sampler:
    """One timing process (bench/suite_pi05_timing.py or bench/lerobot_pi05_timing.py)."""

    def __init__(self, python: Path, script: str, dtype: str) -> None:
        path = os.pathsep.join([str(ROOT / "bench"), str(ROOT / "tests" / "lerobot_compat")])
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": path}
        self.process = subprocess.Popen(
            [str(python), str(ROOT / "bench" / script), dtype, str(THREADS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        self.ask_until("ready")
        self.times: list[float] = []

    def ask_until(self, word: str) -> None:
        for line in self.process.stdout:
            if line.strip() == word:
                return
        raise RuntimeError(f"{self.process.args[1]} ended before '{word}' (exit {self.process.wait()})")

    def ask(self, command: str) -> str:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def sample(self) -> None:
        self.times.append(float(self.ask("sample")))

    def close(self) -> None:
        self.ask("quit") if self.process.poll() is None else None
        self.process.wait()


def full_size() -> str:
    torch.set_num_threads(THREADS)
    fp32 = matmul_rate(torch.float32)
    bf16 = matmul_rate(torch.bfloat16, rows=64)  # small first: without AMX it is a hundred times slower
    dtype = "bfloat16" if bf16 > fp32 else "float32"
    rate = bf16 if dtype == "bfloat16" else fp32
    print(f"matmul rate, {THREADS} threads: fp32 {fp32 / 1e12:.2f} TFLOP/s, bf16 {bf16 / 1e12:.3f} TFLOP/s: "
          f"the full-size row runs in {dtype}", flush=True)  # fmt: skip
    model_bytes = PARAMETERS * (2 if dtype == "bfloat16" else 4) * 1.2
    together = 2 * model_bytes < os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.85
    work = Path(tempfile.mkdtemp())
    suite = Sampler(Path(sys.executable), "suite_pi05_timing.py", dtype)
    suite.sample()  # warm-up
    flops = float(suite.ask("flops"))
    judge = None
    if JUDGE.exists() and together:
        judge = Sampler(JUDGE, "lerobot_pi05_timing.py", dtype)
        judge.sample()
    for _ in range(ROUNDS):
        suite.sample()
        if judge is not None:
            judge.sample()
    suite.ask(f"actions {work / 'suite.safetensors'}")
    suite.close()
    if JUDGE.exists() and judge is None:  # one after the other: both models do not fit at once
        judge = Sampler(JUDGE, "lerobot_pi05_timing.py", dtype)
        judge.sample()
        for _ in range(ROUNDS):
            judge.sample()
    floor = flops / rate
    t_suite, m_suite = min(suite.times[1:]), statistics.median(suite.times[1:])
    print(f"full size ({dtype}, 10 steps, batch 1): suite {t_suite:.2f} s ({m_suite:.2f}), "
          f"{flops / 1e12:.2f} TFLOP -> floor {floor:.2f} s", flush=True)  # fmt: skip
    line = f"full-size {dtype} suite/floor {t_suite / floor:.2f} ({m_suite / floor:.2f}) (<= 1.6)"
    if judge is None:
        return line + ", suite/LeRobot not measured: no .venv-lerobot (scripts/check_lerobot_compat.sh makes it)"
    judge.ask(f"actions {work / 'lerobot.safetensors'}")
    judge.close()
    diff = float((load_file(str(work / "suite.safetensors"))["actions"]
                  - load_file(str(work / "lerobot.safetensors"))["actions"]).abs().max())  # fmt: skip
    t_judge, m_judge = min(judge.times[1:]), statistics.median(judge.times[1:])
    print(f"LeRobot 0.6.1 {t_judge:.2f} s ({m_judge:.2f}), {'interleaved' if together else 'after the suite'}; "
          f"actions max |suite - LeRobot| {diff:.1e} (bound {ACTIONS_BOUND:g})", flush=True)  # fmt: skip
    return line + f", suite/LeRobot {t_suite / t_judge:.2f} ({m_suite / m_judge:.2f}) (<= 0.4)"
