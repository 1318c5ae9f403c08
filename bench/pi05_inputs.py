"""What both full-size timing processes share (torch only: both venvs import it): the
observation, in LeRobot's layout, and the stdin protocol bench/vla_full.py speaks."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import torch
from safetensors.torch import save_file
from torch.utils.flop_counter import FlopCounterMode


def batch_inputs() -> tuple:
    """The bench's observation (generator seeds shared with bench/vla.py), LeRobot's layout."""
    g = torch.Generator().manual_seed(11)
    images = torch.rand(1, 2, 3, 224, 224, generator=g) * 2 - 1
    prompt = torch.randint(0, 250_000, (1, 48), generator=g)
    noise = torch.randn(1, 50, 32, generator=g)
    tokens = torch.zeros(1, 200, dtype=torch.long)
    tokens[:, :48] = prompt
    mask = torch.zeros(1, 200, dtype=torch.bool)
    mask[:, :48] = True
    return [images[:, 0], images[:, 1]], [torch.ones(1, dtype=torch.bool)] * 2, tokens, mask, noise


def serve(sample: Callable[[], torch.Tensor]) -> None:
    """stdin: "sample" -> one chunk; prints its seconds. "flops" -> prints the FLOPs of one chunk
    (torch's counter). "actions PATH" -> saves the last chunk. Anything else ends."""
    print("ready", flush=True)
    actions = None
    for line in sys.stdin:
        command = line.split()
        if command[0] == "sample":
            started = time.perf_counter()
            actions = sample()
            print(f"{time.perf_counter() - started:.4f}", flush=True)
        elif command[0] == "flops":
            with FlopCounterMode(display=False) as counter:
                sample()
            print(counter.get_total_flops(), flush=True)
        elif command[0] == "actions":
            save_file({"actions": actions.float().contiguous()}, command[1])
            print("saved", flush=True)
        else:
            return
