"""Tiny pi05 models and inputs shared by the policy tests."""

import torch

from lerobot_policy.configuration import PI05Config
from lerobot_policy.modeling import Batch, PI05Policy


def tiny(**overrides) -> PI05Policy:
    """A tiny pi05 whose expert norms do something (they start at zero)."""
    torch.manual_seed(0)
    policy = PI05Policy(PI05Config.tiny(**overrides))
    with torch.no_grad():
        for name, parameter in policy.named_parameters():
            if name.endswith("dense.weight") or name.endswith("dense.bias"):
                parameter.normal_(0, 0.05)
    return policy.eval()


def observation_batch(config: PI05Config, generator: torch.Generator) -> Batch:
    """One sample: two cameras and a six-token prompt, nothing to train on."""
    ones = lambda n: torch.ones(1, n, dtype=torch.bool)  # noqa: E731
    return Batch(
        images=torch.rand(1, 2, 3, 224, 224, generator=generator) * 2 - 1, image_masks=ones(2),
        prompt=torch.randint(0, config.vocab_size, (1, 6), generator=generator), prompt_mask=ones(6),
    )  # fmt: skip
