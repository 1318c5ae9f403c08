"""Training metrics: one JSON line per logged step, and the loss curves drawn from them.

JSON lines survive a crash mid-run (every line is complete or absent) and a resumed run
appends to the same file, dropping lines past the step it resumed from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class MetricsLog:
    def __init__(self, path: Path, *, resume_step: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            self.path.write_text("")
        elif self.path.exists():  # steps after the checkpoint are trained again: forget them
            kept = [r for r in self.read() if r["step"] <= resume_step]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as file:
            file.write(json.dumps(record) + "\n")

    def read(self) -> list[dict[str, Any]]:
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        return [json.loads(line) for line in lines if line.strip()]


def plot_losses(records: list[dict[str, Any]], path: Path) -> None:
    """Each loss (log scale) and the learning rate against the step, as a PNG."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    losses = [k for k in ("loss", "flow", "text", "fast") if any(k in r for r in records)]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, height_ratios=(3, 1))
    for name in losses:
        points = [(r["step"], r[name]) for r in records if name in r]
        top.plot(*zip(*points, strict=True), label=name)
    top.set_yscale("log")
    top.set_ylabel("loss")
    top.legend()
    top.grid(alpha=0.3)
    bottom.plot([r["step"] for r in records], [r["lr"] for r in records], color="gray")
    bottom.set_ylabel("learning rate")
    bottom.set_xlabel("step")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
