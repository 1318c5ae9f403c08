"""The fused forward against its alternatives, and cached sampling against recomputation.

Small model (gemma_small backbone, gemma_small_expert, siglip_small: 256 image tokens per
camera, two cameras), batch 4, chunk 50, on this machine's CPU, in one run:
- one training step (forward + backward) fused (flow + text + FAST in one backbone pass)
  vs two passes (flow-only pass + prefix-only pass for text and FAST) vs flow-only;
- inference: one prefix pass + 10 cached denoising steps vs the prefix recomputed every step.
Freed memory is kept in the process, as `lerobot_policy_train` does (lerobot_policy.memory).
Targets: fused / two passes <= 0.65, fused / flow-only <= 1.2, cached / recomputed <= 0.3.
Last line: the three ratios.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from lerobot_policy.configuration import PI05Config
from lerobot_policy.memory import keep_freed_memory
from lerobot_policy.modeling import Batch, PI05Policy

torch.set_num_threads(2)
keep_freed_memory()  # as the training command runs: no page faults for each step's activations


def make(weights: dict[str, float]) -> PI05Policy:
    torch.manual_seed(0)
    return PI05Policy(PI05Config(
        paligemma_variant="gemma_small", action_expert_variant="gemma_small_expert", vision_variant="siglip_small",
        vocab_size=4096, chunk_size=50, n_action_steps=50, **weights,
    ))  # fmt: skip


def make_batch(config: PI05Config, batch: int = 4) -> Batch:
    g = torch.Generator().manual_seed(1)
    ones = lambda n: torch.ones(batch, n, dtype=torch.bool)  # noqa: E731
    return Batch(
        images=torch.rand(batch, 2, 3, 224, 224, generator=g) * 2 - 1, image_masks=ones(2),
        prompt=torch.randint(0, config.vocab_size, (batch, 48), generator=g), prompt_mask=ones(48),
        actions=torch.randn(batch, config.chunk_size, config.max_action_dim, generator=g), action_dim=6,
        targets=torch.randint(0, config.vocab_size, (batch, 16), generator=g), targets_mask=ones(16),
        fast=torch.randint(0, config.vocab_size, (batch, 60), generator=g), fast_mask=ones(60),
    )  # fmt: skip


def interleaved(steps: dict[str, Callable[[], None]], rounds: int = 5) -> dict[str, float]:
    """Best time of each step (as timeit: interference from other work on a shared machine only
    ever adds), the steps taken in turn every round so that drift affects all of them alike."""
    for step in steps.values():
        step()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            started = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - started)
    return {name: min(values) for name, values in times.items()}


def train_step(policies: list[PI05Policy], batch: Batch) -> Callable[[], None]:
    def step() -> None:
        loss = sum(policy.model(batch)["loss"] for policy in policies)
        loss.backward()
        for policy in policies:
            policy.zero_grad(set_to_none=True)

    return step


def main() -> None:
    fused = make({"flow_loss_weight": 1.0, "text_loss_weight": 1.0, "fast_loss_weight": 1.0})
    batch = make_batch(fused.config)
    flow_only = make({"flow_loss_weight": 1.0})
    prefix_only = make({"flow_loss_weight": 0.0, "text_loss_weight": 1.0, "fast_loss_weight": 1.0})
    training = interleaved({
        "fused": train_step([fused], batch),
        "two": train_step([flow_only, prefix_only], batch),
        "flow": train_step([flow_only], batch),
    })  # fmt: skip
    t_fused, t_two, t_flow = training["fused"], training["two"], training["flow"]
    print(f"training step (forward + backward), batch 4: fused {t_fused:.2f} s, ", end="")
    print(f"two passes {t_two:.2f} s, flow-only {t_flow:.2f} s")
    with torch.no_grad():
        inference = interleaved({
            "cached": lambda: fused.sample_actions(batch, steps=10),
            "recomputed": lambda: fused.sample_actions(batch, steps=10, use_cache=False),
        }, rounds=3)  # fmt: skip
    t_cached, t_recomputed = inference["cached"], inference["recomputed"]
    print(f"inference, 10 denoising steps: cached prefix {t_cached:.2f} s, ", end="")
    print(f"prefix recomputed each step {t_recomputed:.2f} s")
    print(
        f"fused/two-passes {t_fused / t_two:.2f} (<= 0.65), fused/flow-only {t_fused / t_flow:.2f} (<= 1.2), "
        f"cached/recomputed {t_cached / t_recomputed:.2f} (<= 0.3)"
    )


if __name__ == "__main__":
    main()
