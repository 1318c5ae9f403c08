"""The pi0.5 model, nested so that its parameter names are LeRobot's pi05 checkpoint keys
(`model.paligemma_with_expert.paligemma.model.language_model.layers.0.self_attn.q_proj.weight`,
`model.action_in_proj.weight`, ...), and the fused training forward.

The fused forward runs ONE joint pass over [images | prompt | text targets | FAST] + [noisy
actions] and takes all active losses from it: flow matching from the suffix, next-token
cross-entropy for the text targets and the FAST codes from the prefix (the prefix never
attends to the suffix, so those equal a prefix-only pass). Flow off but text or FAST on ->
one prefix-only pass; nothing on -> an error. Each predicted token is read from the last
real token before it, so padding anywhere in the prefix is skipped.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F  # noqa: N812
import transformers
from packaging.version import Version
from torch import nn
from transformers import SiglipVisionConfig, SiglipVisionModel

from lerobot_policy.configuration import DTYPES, PI05Config
from lerobot_policy.errors import PolicyError
from lerobot_policy.experts import GemmaStack, joint_forward, prefix_pass, suffix_pass
from lerobot_policy.flow import euler_sample, flow_loss, noisy_actions, sample_time
from lerobot_policy.layers import sincos_2d, sinusoidal_embedding
from lerobot_policy.masks import Segments, additive, fused_masks, repeat_suffix
from lerobot_policy.rtc import Guidance


@dataclass
class Batch:
    images: torch.Tensor  # (B, cameras, 3, H, W) in [-1, 1]
    image_masks: torch.Tensor  # (B, cameras) bool: False for a missing camera
    prompt: torch.Tensor  # (B, Lp) token ids
    prompt_mask: torch.Tensor  # (B, Lp) bool
    actions: torch.Tensor | None = None  # (B, horizon, max_action_dim), normalized, zero-padded
    action_dim: int = 0  # the robot's real action dimensions
    action_pad: torch.Tensor | None = None  # (B, horizon) bool: steps past the episode's end
    targets: torch.Tensor | None = None  # (B, Lt) text target ids
    targets_mask: torch.Tensor | None = None
    fast: torch.Tensor | None = None  # (B, F) FAST codes as backbone ids (with the terminator)
    fast_mask: torch.Tensor | None = None

    def to(self, device: torch.device) -> Batch:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        moved: dict[str, Any] = {k: v.to(device) for k, v in fields.items() if isinstance(v, torch.Tensor)}
        return dataclasses.replace(self, **moved)

    def text(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The text targets and their mask, if any."""
        return _with_mask(self.targets, self.targets_mask, "targets")

    def fast_tokens(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The FAST codes and their mask, if any."""
        return _with_mask(self.fast, self.fast_mask, "fast")


def _with_mask(
    ids: torch.Tensor | None, mask: torch.Tensor | None, name: str
) -> tuple[torch.Tensor, torch.Tensor] | None:
    if ids is None:
        return None
    if mask is None:
        raise PolicyError(f"the batch has {name} but no {name}_mask: give both")
    return ids, mask


@dataclass
class Outputs:
    """What one training pass computed: the losses, and for the flow the velocities the
    expert predicted and their targets, (B * R, H, max_action_dim) (R noise draws per sample)."""

    losses: dict[str, torch.Tensor]
    velocity: torch.Tensor | None = None
    target: torch.Tensor | None = None


class Projector(nn.Module):
    def __init__(self, vision_width: int, width: int) -> None:
        super().__init__()
        self.linear = nn.Linear(vision_width, width)


class LanguageModel(GemmaStack):
    def __init__(self, config: PI05Config) -> None:
        super().__init__(config.backbone)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.backbone.width)


TRANSFORMERS_TESTED = (Version("5.4"), Version("5.25"))  # as requirements/base.txt pins it


def check_transformers(installed: str) -> None:
    """SigLIP comes from transformers, whose module layout and key names change between
    releases: refuse a version the suite was not tested with rather than load wrong."""
    low, high = TRANSFORMERS_TESTED
    if not low <= Version(installed) < high:
        raise PolicyError(
            f"transformers {installed} is outside the tested range >={low},<{high} (SigLIP's layout changes between "
            f"releases): pip install 'transformers>={low},<{high}'"
        )


class PaliGemmaInner(nn.Module):
    def __init__(self, config: PI05Config) -> None:
        super().__init__()
        check_transformers(transformers.__version__)
        vision = config.vision
        self.vision_tower = SiglipVisionModel(
            SiglipVisionConfig(
                hidden_size=vision.hidden, intermediate_size=vision.mlp_dim, num_hidden_layers=vision.depth,
                num_attention_heads=vision.num_heads, image_size=config.image_resolution[0], patch_size=vision.patch,
                vision_use_head=False,
            )
        )  # fmt: skip
        if config.vision_position_init == "sincos2d":
            grid = config.image_resolution[0] // vision.patch
            tower = getattr(self.vision_tower, "vision_model", self.vision_tower)  # the level transformers 5.6 dropped
            with torch.no_grad():
                tower.embeddings.position_embedding.weight.copy_(sincos_2d(grid, grid, vision.hidden))
        self.multi_modal_projector = Projector(vision.hidden, config.backbone.width)
        self.language_model = LanguageModel(config)


class PaliGemma(nn.Module):
    def __init__(self, config: PI05Config) -> None:
        super().__init__()
        self.model = PaliGemmaInner(config)
        self.lm_head = nn.Linear(config.backbone.width, config.vocab_size, bias=False)  # untied from embed_tokens


class GemmaExpert(nn.Module):
    def __init__(self, config: PI05Config) -> None:
        super().__init__()
        self.model = GemmaStack(config.expert, cond_dim=config.expert.width)
        self.lm_head = nn.Linear(config.expert.width, config.vocab_size, bias=False)  # unused; in checkpoints


class PaliGemmaWithExpert(nn.Module):
    def __init__(self, config: PI05Config) -> None:
        super().__init__()
        self.paligemma = PaliGemma(config)
        self.gemma_expert = GemmaExpert(config)


class PI05Model(nn.Module):
    def __init__(self, config: PI05Config) -> None:
        super().__init__()
        self.config = config
        width = config.expert.width
        self.paligemma_with_expert = PaliGemmaWithExpert(config)
        self.action_in_proj = nn.Linear(config.max_action_dim, width)
        self.action_out_proj = nn.Linear(width, config.max_action_dim)
        self.time_mlp_in = nn.Linear(width, width)
        self.time_mlp_out = nn.Linear(width, width)

    # --- embeddings ---------------------------------------------------------------------------
    @property
    def language(self) -> LanguageModel:
        return self.paligemma_with_expert.paligemma.model.language_model

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """Language, text-target and FAST tokens: scaled by sqrt(width) exactly once, the
        factor in the embedding's dtype as Gemma rounds it (45.25 in bf16)."""
        table = self.language.embed_tokens
        return table(ids) * torch.tensor(math.sqrt(self.config.backbone.width), dtype=table.weight.dtype)

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """(B, cameras, 3, H, W) -> (B, cameras * tokens, width), unscaled projector output."""
        batch = images.shape[0]
        inner = self.paligemma_with_expert.paligemma.model
        pixels = images.flatten(0, 1).to(inner.multi_modal_projector.linear.weight.dtype)
        features = inner.multi_modal_projector.linear(inner.vision_tower(pixel_values=pixels).last_hidden_state)
        return features.reshape(batch, -1, self.config.backbone.width).to(self.language.dtype)

    def time_condition(self, t: torch.Tensor) -> torch.Tensor:
        emb = sinusoidal_embedding(t, self.config.expert.width, self.config.min_period, self.config.max_period)
        return F.silu(self.time_mlp_out(F.silu(self.time_mlp_in(emb.to(self.time_mlp_in.weight.dtype)))))

    def embed_actions(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, max_action_dim) noisy actions -> expert tokens in the expert's dtype."""
        tokens = self.action_in_proj(x.to(self.action_in_proj.weight.dtype))
        return tokens.to(self.paligemma_with_expert.gemma_expert.model.dtype)

    def velocity(self, suffix_out: torch.Tensor) -> torch.Tensor:
        """Expert outputs -> (B, H, max_action_dim) velocities, in fp32 whatever the weights."""
        return self.action_out_proj(suffix_out.to(self.action_out_proj.weight.dtype)).float()

    def prefix(
        self, batch: Batch, *, with_targets: bool, with_fast: bool
    ) -> tuple[torch.Tensor, torch.Tensor, Segments]:
        tokens_per_image = self.config.image_tokens
        images = self.embed_images(batch.images)
        parts = [images, self.embed_tokens(batch.prompt)]
        masks = [batch.image_masks.repeat_interleave(tokens_per_image, dim=1), batch.prompt_mask]
        extra = {"targets": batch.text() if with_targets else None, "fast": batch.fast_tokens() if with_fast else None}
        lengths = dict.fromkeys(extra, 0)
        for name, given in extra.items():
            if given is not None:
                parts.append(self.embed_tokens(given[0]))
                masks.append(given[1])
                lengths[name] = given[0].shape[1]
        segments = Segments(images=images.shape[1], prompt=batch.prompt.shape[1], **lengths)
        return torch.cat(parts, dim=1), torch.cat(masks, dim=1), segments

    def _suffix(
        self, actions: torch.Tensor, noise: torch.Tensor | None, t: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The noisy-action tokens of `flow_num_repeats` draws per sample, side by side in the
        sequence ((B, R * H, width)), their time conditions ((B, width) or (B, R, width)), and
        the draws' target velocities flattened to (B * R, H, D) for the loss. `noise` is
        (B, [R,] H, D), `t` (B, [R])."""
        repeats = self.config.flow_num_repeats
        batch, horizon, dims = actions.shape
        if noise is None:
            noise = torch.randn(batch, repeats, horizon, dims, device=actions.device, dtype=actions.dtype)
        if t is None:
            t = sample_time(batch * repeats, self.config).to(actions.device)
        noise, t = noise.reshape(batch * repeats, horizon, dims), t.reshape(batch * repeats)
        x_t, target = noisy_actions(actions.repeat_interleave(repeats, dim=0), noise, t)
        tokens = self.embed_actions(x_t).reshape(batch, repeats * horizon, -1)
        cond = self.time_condition(t)
        cond = cond if repeats == 1 else cond.reshape(batch, repeats, -1)
        return tokens, cond, target

    # --- losses ---------------------------------------------------------------------------------
    def _next_token_loss(
        self, hidden: torch.Tensor, pad: torch.Tensor, start: int, ids: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """CE of the tokens at [start, start + n), each predicted from the last real token
        before it (padding in between is skipped, as autoregressive decoding would). `hidden`
        holds the prefix's last rows only (see `first_read`)."""
        predictor = previous_real(pad)[:, start : start + ids.shape[1]]  # (B, n)
        rows = (predictor - (pad.shape[1] - hidden.shape[1])).clamp(min=0)
        picked = torch.gather(hidden, 1, rows[..., None].expand(-1, -1, hidden.shape[-1]))
        logits = self.paligemma_with_expert.paligemma.lm_head(picked)
        losses = F.cross_entropy(logits.float().transpose(1, 2), ids, reduction="none")
        valid = mask & (predictor >= 0)
        return (losses * valid).sum() / valid.sum().clamp(min=1)

    def forward(
        self, batch: Batch, noise: torch.Tensor | None = None, t: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """The weighted "loss" and each active loss ("flow", "text", "fast")."""
        return self.outputs(batch, noise, t).losses

    def outputs(self, batch: Batch, noise: torch.Tensor | None = None, t: torch.Tensor | None = None) -> Outputs:
        cfg = self.config
        actions = batch.actions if cfg.flow_loss_weight > 0 else None
        text = batch.text() if cfg.text_loss_weight > 0 else None
        fast = batch.fast_tokens() if cfg.fast_loss_weight > 0 else None
        flow_on, text_on, fast_on = actions is not None, text is not None, fast is not None
        if not (flow_on or text_on or fast_on):
            raise PolicyError(
                "no loss is active: give actions with flow_loss_weight > 0, text targets with text_loss_weight > 0, "
                "or FAST tokens with fast_loss_weight > 0"
            )
        prefix, prefix_mask, seg = self.prefix(batch, with_targets=text_on, with_fast=fast_on)
        read_from = first_read(prefix_mask, seg.images + seg.prompt) if text_on or fast_on else seg.prefix
        stacks = [self.language, self.paligemma_with_expert.gemma_expert.model]
        losses: dict[str, torch.Tensor] = {}
        velocity = target = None
        if actions is not None:  # the fused pass: one joint forward for every active loss
            suffix, cond, target = self._suffix(actions, noise, t)
            seg = Segments(seg.images, seg.prompt, seg.targets, seg.fast, suffix=actions.shape[1])
            suffix_pad = torch.ones(actions.shape[:2], dtype=torch.bool, device=prefix.device)
            pad = torch.cat([prefix_mask, suffix_pad], dim=1)
            allowed, positions = repeat_suffix(*fused_masks(seg, pad), seg.prefix, cfg.flow_num_repeats)
            prefix_out, suffix_out = joint_forward(
                stacks, [prefix, suffix], additive(allowed), positions, cond,
                insulate=cfg.knowledge_insulation, keep_from=[read_from, 0],
            )  # fmt: skip
            assert suffix_out is not None
            velocity = self.velocity(suffix_out).unflatten(1, (cfg.flow_num_repeats, -1)).flatten(0, 1)
            action_pad = batch.action_pad
            if action_pad is not None:
                action_pad = action_pad.repeat_interleave(cfg.flow_num_repeats, dim=0)
            losses["flow"] = flow_loss(velocity, target, batch.action_dim or cfg.max_action_dim, action_pad)
        else:  # text or FAST only: one prefix-only pass
            allowed, positions = fused_masks(seg, prefix_mask)
            prefix_out, _ = joint_forward(
                stacks, [prefix, None], additive(allowed), positions, keep_from=[read_from, 0]
            )
        if text is not None:
            assert prefix_out is not None  # read from the text's rows on
            losses["text"] = self._next_token_loss(prefix_out, prefix_mask, seg.images + seg.prompt, *text)
        if fast is not None:
            assert prefix_out is not None
            losses["fast"] = self._next_token_loss(prefix_out, prefix_mask, seg.fast_start, *fast)
        weights = {"flow": cfg.flow_loss_weight, "text": cfg.text_loss_weight, "fast": cfg.fast_loss_weight}
        losses["loss"] = cast(torch.Tensor, sum(weights[name] * value for name, value in losses.items()))
        return Outputs(losses, velocity, target)


def _sample_actions(
    model: PI05Model,
    batch: Batch,
    noise: torch.Tensor | None,
    steps: int | None,
    use_cache: bool,
    *,
    guidance: Guidance | None = None,
) -> torch.Tensor:
    cfg = model.config
    prefix, prefix_mask, seg = model.prefix(batch, with_targets=False, with_fast=False)
    batch_size, horizon = prefix.shape[0], cfg.chunk_size
    noise = torch.randn(batch_size, horizon, cfg.max_action_dim, device=prefix.device) if noise is None else noise
    full = Segments(seg.images, seg.prompt, suffix=horizon)
    pad = torch.cat([prefix_mask, torch.ones(batch_size, horizon, dtype=torch.bool, device=prefix.device)], dim=1)
    allowed, positions = fused_masks(full, pad)
    mask, p = additive(allowed), full.prefix
    expert = model.paligemma_with_expert.gemma_expert.model
    if use_cache:  # one prefix pass; each step runs the expert over the suffix only
        _, cache = prefix_pass(model.language, prefix, mask[:, :, :p, :p], positions[:, :p])

        def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            out = suffix_pass(
                expert, model.embed_actions(x), cache, mask[:, :, p:], positions[:, p:], cond=model.time_condition(t)
            )
            return model.velocity(out)
    else:  # the reference: the whole prefix again at every step

        def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            _, out = joint_forward(
                [model.language, expert], [prefix, model.embed_actions(x)], mask, positions, model.time_condition(t)
            )
            assert out is not None
            return model.velocity(out)

    field = guidance.wrap(velocity) if guidance is not None else velocity
    return euler_sample(field, noise, steps or cfg.num_inference_steps)


def first_read(pad: torch.Tensor, start: int) -> int:
    """The first prefix row whose output predicts a token at or after `start`, over the batch."""
    return int(previous_real(pad)[:, start].clamp(min=0).min())


def previous_real(pad: torch.Tensor) -> torch.Tensor:
    """(B, N) padding -> for each position, the index of the last real token before it (-1: none)."""
    index = torch.arange(pad.shape[1], device=pad.device).expand_as(pad)
    real = torch.where(pad, index, torch.full_like(index, -1))
    shifted = torch.cat([torch.full_like(real[:, :1], -1), real[:, :-1]], dim=1)
    return torch.cummax(shifted, dim=1).values


KEEP_FP32 = ("vision_tower", "multi_modal_projector", "input_layernorm", "post_attention_layernorm", "model.norm")


class PI05Policy(nn.Module):
    """The wrapper whose state dict is a LeRobot pi05 checkpoint (keys under `model.`)."""

    def __init__(self, config: PI05Config) -> None:
        super().__init__()
        self.config = config
        self.model = PI05Model(config)

    def set_precision(self, dtype: str) -> PI05Policy:
        """LeRobot's `dtype`: "bfloat16" puts the Gemma stacks' weights in bf16 and keeps the
        SigLIP tower, the projector, every norm (the expert's adaptive ones too) and the action
        and time projections in fp32, as LeRobot's PI05 does; "float32" puts all in fp32."""
        if dtype not in DTYPES:
            raise PolicyError(f"dtype {dtype!r}: use one of {DTYPES}")
        for name, parameter in self.named_parameters():  # one at a time: no full-size fp32 copy at once
            bf16 = dtype == "bfloat16" and "paligemma_with_expert." in name and not any(k in name for k in KEEP_FP32)
            parameter.data = parameter.data.to(torch.bfloat16 if bf16 else torch.float32)
        self.config.dtype = dtype
        return self

    @torch.no_grad()
    def sample_actions(
        self,
        batch: Batch,
        noise: torch.Tensor | None = None,
        *,
        steps: int | None = None,
        use_cache: bool = True,
        guidance: Guidance | None = None,
    ) -> torch.Tensor:
        """(B, chunk_size, max_action_dim) normalized actions: Euler steps from noise, with
        the prefix computed once and read, never written, by every step; with `guidance`,
        pulled towards the steps a running chunk has committed (real-time chunking)."""
        return _sample_actions(self.model, batch, noise, steps, use_cache, guidance=guidance)
