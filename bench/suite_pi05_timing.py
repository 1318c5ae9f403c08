"""The suite's full-size pi05 sampling, timed on request (started by bench/vla.py --full): the
same protocol, weights and observation as bench/lerobot_pi05_timing.py, with the suite's own
48-token prompt (no padding to 200).

Started with bench/ and tests/lerobot_compat/ on PYTHONPATH (pi05_inputs, shared).

The protocol: pi05_inputs.serve.
"""

from __future__ import annotations

import sys

import torch
from pi05_inputs import batch_inputs, serve
from shared import EMBED, HEAD, seeded

from lerobot_policy.checkpoint import lerobot_key
from lerobot_policy.configuration import PI05Config
from lerobot_policy.modeling import Batch, PI05Policy


def main(dtype: str, threads: int) -> None:
    torch.set_num_threads(threads)
    torch.set_default_dtype(torch.bfloat16 if dtype == "bfloat16" else torch.float32)  # no fp32 copy of a bf16 model
    policy = PI05Policy(PI05Config())
    torch.set_default_dtype(torch.float32)
    with torch.no_grad():
        for name, parameter in policy.named_parameters():
            key = lerobot_key(name)
            parameter.copy_(seeded(EMBED if key == HEAD else key, list(parameter.shape)).to(parameter.dtype))
    policy.set_precision(dtype).eval()
    images, _, tokens, _, noise = batch_inputs()
    ones = lambda n: torch.ones(1, n, dtype=torch.bool)  # noqa: E731
    batch = Batch(images=torch.stack(images, dim=1), image_masks=ones(2), prompt=tokens[:, :48], prompt_mask=ones(48))
    serve(lambda: policy.sample_actions(batch, noise, steps=10))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
