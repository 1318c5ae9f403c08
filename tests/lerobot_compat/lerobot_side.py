"""LeRobot 0.6.1's side of the policy judge (runs in the judge's Python 3.12 venv).

    reference WORK   build a pi05 with LeRobot's classes, save it as lerobot-train does (weights,
                     config.json, the pre/post-processors with their stats) and compute with
                     LeRobot's own code what the suite must reproduce: prompts and token ids,
                     per-element training losses and velocities for given noise and times,
                     sampled actions and per-step velocities for given noise, with a camera
                     missing, in fp32 and with dtype bfloat16
    check WORK       load the policy the suite trained (WORK/suite_policy) with
                     PI05Policy.from_pretrained (strict), run LeRobot's processors and
                     predict_action_chunk on the same inputs and noise, compare with the suite

Only size lookups are patched (shared.py); the weights are set from shared.seeded_weights.
"""

from __future__ import annotations

import json
import os
import sys
from functools import partial
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer

sys.path.insert(0, str(Path(__file__).parent))
import lerobot.policies.pi05.modeling_pi05 as modeling
import lerobot.policies.pi05.processor_pi05 as processors
import shared
from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature
from lerobot.policies.pi05 import PI05Config, PI05Policy
from lerobot.policies.rtc.configuration_rtc import RTCConfig
from lerobot.processor import TokenizerProcessorStep, TransitionKey
from lerobot.utils.constants import OBS_LANGUAGE_ATTENTION_MASK, OBS_LANGUAGE_TOKENS

FP32_BOUND = 1e-5
# not pi05's default (quantiles for both): the checkpoint's own mapping must be honoured
NORMALIZATION = {"VISUAL": NormalizationMode.IDENTITY, "STATE": NormalizationMode.MEAN_STD,
                 "ACTION": NormalizationMode.MIN_MAX}  # fmt: skip


def patch_sizes(tokenizer_folder: Path) -> None:
    """Gemma sizes by name, SigLIP's inside PaliGemma, and the tokenizer LeRobot would fetch
    from the hub (offline here): lookups only."""
    modeling.get_gemma_config = lambda variant: modeling.GemmaConfig(**shared.GEMMA[variant])
    build = modeling.PaliGemmaForConditionalGenerationWithPiGemma.__init__

    def small_siglip(self, config):
        vision = config.vision_config
        vision.hidden_size, vision.num_hidden_layers = shared.SIGLIP["hidden"], shared.SIGLIP["depth"]
        vision.intermediate_size, vision.num_attention_heads = shared.SIGLIP["mlp_dim"], shared.SIGLIP["num_heads"]
        vision.patch_size, vision.projection_dim = shared.SIGLIP["patch"], config.text_config.hidden_size
        build(self, config)

    modeling.PaliGemmaForConditionalGenerationWithPiGemma.__init__ = small_siglip
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_folder))
    processors.TokenizerProcessorStep = partial(TokenizerProcessorStep, tokenizer=tokenizer)


def features() -> tuple[dict, dict]:
    h, w = shared.IMAGE_HW
    inputs = {key: PolicyFeature(type=FeatureType.VISUAL, shape=(3, h, w)) for key in shared.CAMERAS}
    inputs["observation.state"] = PolicyFeature(type=FeatureType.STATE, shape=(shared.STATE_DIM,))
    return inputs, {"action": PolicyFeature(type=FeatureType.ACTION, shape=(shared.ACTION_DIM,))}


def raw_batch(inputs: dict[str, torch.Tensor], cameras: list[str], with_actions: bool = False) -> dict:
    """A LeRobot batch as a dataset gives it: images (B, 3, H, W) float in [0, 1], raw state, tasks."""
    batch = {key: inputs[f"image.{key}"].permute(0, 3, 1, 2).float() / 255.0 for key in cameras}
    batch["observation.state"] = inputs["state"]
    batch["task"] = list(shared.TASKS)
    if with_actions:
        batch["action"] = inputs["actions"]
    return batch


def record_velocities(policy: PI05Policy) -> list[torch.Tensor]:
    steps: list[torch.Tensor] = []
    policy.model.action_out_proj.register_forward_hook(lambda _m, _i, out: steps.append(out.float()))
    return steps


def outputs(policy: PI05Policy, preprocess, postprocess, inputs: dict[str, torch.Tensor]) -> dict:
    """What LeRobot computes for the judge's inputs, through its processors and model."""
    out = {}
    train = preprocess(raw_batch(inputs, shared.CAMERAS, with_actions=True))
    out["prompt_ids"], out["prompt_mask"] = train[OBS_LANGUAGE_TOKENS], train[OBS_LANGUAGE_ATTENTION_MASK].long()
    images, masks = policy._preprocess_images(train)
    steps = record_velocities(policy)
    with torch.no_grad():
        losses = policy.model.forward(images, masks, train[OBS_LANGUAGE_TOKENS], train[OBS_LANGUAGE_ATTENTION_MASK],
                                      policy.prepare_action(train), inputs["noise"], inputs["time"])  # fmt: skip
    out["train_loss"], out["train_velocity"] = losses[..., : shared.ACTION_DIM], steps[0]
    policy.model.action_out_proj._forward_hooks.clear()
    for name, cameras in (("", shared.CAMERAS), ("missing_", shared.CAMERAS[:1])):
        batch = preprocess(raw_batch(inputs, cameras))
        steps = record_velocities(policy)
        actions = policy.predict_action_chunk(batch, noise=inputs["noise"])
        out[f"{name}actions"] = postprocess(actions)
        out[f"{name}step_velocities"] = torch.stack(steps)
        policy.model.action_out_proj._forward_hooks.clear()
    policy.config.rtc_config = RTCConfig(enabled=True, execution_horizon=shared.RTC_HORIZON, max_guidance_weight=10.0)
    policy.init_rtc_processor()
    guided = policy.predict_action_chunk(
        preprocess(raw_batch(inputs, shared.CAMERAS)), noise=inputs["noise"], inference_delay=shared.RTC_DELAY,
        prev_chunk_left_over=inputs["leftover"], execution_horizon=shared.RTC_HORIZON,
    )  # fmt: skip
    out["rtc_actions"] = postprocess(guided)
    policy.config.rtc_config = None
    policy.init_rtc_processor()
    return out


def prompt_texts(preprocess, inputs: dict[str, torch.Tensor]) -> list[str]:
    """The prompts LeRobot's pi05 step writes, read by a hook after that step."""
    seen: list[str] = []

    def after(index: int, transition: dict) -> None:
        if isinstance(preprocess.steps[index], processors.Pi05PrepareStateTokenizerProcessorStep):
            seen.extend(transition[TransitionKey.COMPLEMENTARY_DATA]["task"])

    preprocess.after_step_hooks.append(after)
    preprocess(raw_batch(inputs, shared.CAMERAS))
    preprocess.after_step_hooks.remove(after)
    return seen


def stats_of(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    stats: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in load_file(str(path)).items():
        feature, stat = key.rsplit(".", 1)
        stats.setdefault(feature, {})[stat] = value
    return stats


def reference(work: Path) -> None:
    patch_sizes(work / "tokenizer")
    inputs = load_file(str(work / "inputs.safetensors"))
    folder = work / "lerobot_pi05"
    input_features, output_features = features()
    result, prompts = {}, None
    for dtype, prefix in (("float32", ""), ("bfloat16", "bf16_")):
        config = PI05Config(device="cpu", dtype=dtype, input_features=input_features, output_features=output_features,
                            normalization_mapping=NORMALIZATION)  # fmt: skip
        policy = PI05Policy(config)
        shapes = {key: list(value.shape) for key, value in policy.state_dict().items()}
        policy.load_state_dict(shared.seeded_weights(shapes), strict=True)
        preprocess, postprocess = processors.make_pi05_pre_post_processors(config, stats_of(work / "stats.safetensors"))
        if dtype == "float32":
            policy.save_pretrained(folder)
            preprocess.save_pretrained(folder)
            postprocess.save_pretrained(folder)
            (work / "shapes.json").write_text(json.dumps(shapes))
            prompts = prompt_texts(preprocess, inputs)
        for key, value in outputs(policy, preprocess, postprocess, inputs).items():
            if prefix and key.startswith("prompt"):
                continue
            result[prefix + key] = value.contiguous()
    save_file(result, str(work / "reference.safetensors"))
    (work / "reference.json").write_text(json.dumps({"prompts": prompts}, indent=2))
    print(f"[LeRobot] pi05 built, saved to {folder} and run: {len(result)} reference tensors")


def check(work: Path) -> None:
    folder = work / "suite_policy"
    patch_sizes(folder / "text_tokenizer")
    policy = PI05Policy.from_pretrained(str(folder), strict=True)
    config = policy.config
    stats = stats_of(folder / "normalization.safetensors")
    preprocess, postprocess = processors.make_pi05_pre_post_processors(config, stats)
    inputs = load_file(str(work / "inputs.safetensors"))
    batch = preprocess(raw_batch(inputs, shared.CAMERAS))
    actions = postprocess(policy.predict_action_chunk(batch, noise=inputs["noise"]))
    suite = load_file(str(work / "suite_actions.safetensors"))
    assert torch.equal(batch[OBS_LANGUAGE_TOKENS], suite["prompt_ids"]), "prompt ids differ"
    diff = float((actions - suite["actions"]).abs().max())
    assert diff <= FP32_BOUND * max(1.0, float(actions.abs().max())), f"actions differ by {diff:.2e}"
    print(f"[LeRobot <- suite] PI05Policy.from_pretrained(strict=True) loaded {folder.resolve()}; "
          f"prompt ids identical; predict_action_chunk max |LeRobot - suite| {diff:.1e}")  # fmt: skip


if __name__ == "__main__":
    torch.set_num_threads(2)
    {"reference": reference, "check": check}[sys.argv[1]](Path(sys.argv[2]))
