"""LeRobot 0.6.1's full-size pi05 sampling, timed on request (runs in the judge's venv,
started by bench/vla.py --full). Real sizes, the weights of shared.seeded by name (the same
as the suite's in the same run), two 224 px cameras, the 48-token prompt padded to LeRobot's
tokenizer_max_length (200) as its processor pads it, 10 steps, batch 1.

Started with bench/ and tests/lerobot_compat/ on PYTHONPATH (pi05_inputs, shared).

The protocol: pi05_inputs.serve.
"""

from __future__ import annotations

import sys

import torch
from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.policies.pi05 import PI05Config, PI05Policy
from pi05_inputs import batch_inputs, serve
from shared import EMBED, HEAD, seeded


def main(dtype: str, threads: int) -> None:
    torch.set_num_threads(threads)
    image = PolicyFeature(type=FeatureType.VISUAL, shape=(3, 224, 224))
    config = PI05Config(
        device="cpu", dtype=dtype,
        input_features={"observation.images.a": image, "observation.images.b": image,
                        "observation.state": PolicyFeature(type=FeatureType.STATE, shape=(6,))},
        output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(6,))},
    )  # fmt: skip
    policy = PI05Policy(config).eval()
    with torch.no_grad():
        for name, parameter in policy.named_parameters():  # one at a time: no second copy of 4 B parameters
            source = EMBED if name == HEAD else name
            parameter.copy_(seeded(source, list(parameter.shape)).to(parameter.dtype))
    inputs = batch_inputs()
    serve(lambda: policy.model.sample_actions(*inputs, num_steps=10))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
