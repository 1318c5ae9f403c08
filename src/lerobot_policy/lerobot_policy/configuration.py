"""The pi0.5 model's configuration: LeRobot's PI05Config fields and meaning, sizes by name.

Read from and written to LeRobot's `config.json` (keys LeRobot writes that the model does
not use are kept and written back), validated on construction with errors that name the
bad values. Sizes: the real PaliGemma 2B backbone and 300M action expert, and tiny ones
for tests and the demo.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from lerobot_policy.errors import PolicyError


@dataclass(frozen=True)
class GemmaSize:
    width: int
    depth: int
    mlp_dim: int
    num_heads: int
    num_kv_heads: int
    head_dim: int


@dataclass(frozen=True)
class SiglipSize:
    hidden: int
    depth: int
    mlp_dim: int
    num_heads: int
    patch: int


GEMMA = {
    "gemma_2b": GemmaSize(2048, 18, 16_384, 8, 1, 256),
    "gemma_300m": GemmaSize(1024, 18, 4096, 8, 1, 256),
    # benchmarks: compute dominates, proportions as the real model (vision << backbone, expert ~ backbone / 6)
    "gemma_small": GemmaSize(512, 8, 4096, 8, 1, 64),
    "gemma_small_expert": GemmaSize(256, 8, 1024, 8, 1, 64),
    # closed-loop control in simulation: a few million parameters that train in an hour on 2 cores
    "gemma_mini": GemmaSize(128, 4, 512, 4, 1, 32),
    "gemma_mini_expert": GemmaSize(64, 4, 256, 4, 1, 32),
    "gemma_tiny": GemmaSize(64, 2, 128, 2, 1, 16),
    "gemma_tiny_expert": GemmaSize(32, 2, 64, 2, 1, 16),
}
SIGLIP = {
    "siglip_so400m": SiglipSize(1152, 27, 4304, 16, 14),  # 224 px -> 256 tokens
    "siglip_small": SiglipSize(192, 3, 768, 4, 14),  # 224 px -> 256 tokens
    "siglip_tiny": SiglipSize(32, 2, 64, 2, 56),  # 224 px -> 16 tokens
}


@dataclass
class PI05Config:
    paligemma_variant: str = "gemma_2b"
    action_expert_variant: str = "gemma_300m"
    vision_variant: str = "siglip_so400m"
    vocab_size: int = 257_152
    dtype: str = "float32"
    chunk_size: int = 50
    n_action_steps: int = 50
    max_state_dim: int = 32
    max_action_dim: int = 32
    num_inference_steps: int = 10
    time_sampling_beta_alpha: float = 1.5
    time_sampling_beta_beta: float = 1.0
    time_sampling_scale: float = 0.999
    time_sampling_offset: float = 0.001
    min_period: float = 4e-3
    max_period: float = 4.0
    image_resolution: tuple[int, int] = (224, 224)
    empty_cameras: int = 0  # image slots always fed as missing (all -1, mask off), after the real ones
    tokenizer_max_length: int = 200
    # LeRobot's modes per feature type: IDENTITY, MEAN_STD, MIN_MAX, QUANTILES, QUANTILE10
    normalization_mapping: dict[str, str] = field(
        default_factory=lambda: {"VISUAL": "IDENTITY", "STATE": "QUANTILES", "ACTION": "QUANTILES"}
    )
    # the fused training forward
    flow_loss_weight: float = 1.0
    text_loss_weight: float = 0.0
    fast_loss_weight: float = 0.0
    knowledge_insulation: bool = False  # the expert reads the backbone's keys and values without gradients into them
    # FAST codes take the ids just below the last `fast_skip_tokens` of the vocabulary: 128 as
    # pi0-FAST, 1152 in LeRobot's fused pi05 branch (pi052)
    fast_skip_tokens: int = 128
    # noise draws per sample in one fused pass: the suffix repeated, the prefix computed once
    flow_num_repeats: int = 1
    # where a SigLIP trained from scratch starts its patch positions: "random" (transformers' table)
    # or "sincos2d" (big_vision's 2D sine-cosine codes); a checkpoint's learned table replaces either
    vision_position_init: str = "random"
    # optimisation (LeRobot's defaults)
    optimizer_lr: float = 2.5e-5
    optimizer_betas: tuple[float, float] = (0.9, 0.95)
    optimizer_eps: float = 1e-8
    optimizer_weight_decay: float = 0.01
    optimizer_grad_clip_norm: float = 1.0
    scheduler_warmup_steps: int = 1_000
    scheduler_decay_steps: int = 30_000
    scheduler_decay_lr: float = 2.5e-6
    extra: dict[str, Any] = field(default_factory=dict)  # other keys of LeRobot's config.json

    def __post_init__(self) -> None:
        for name, table, value in (
            ("paligemma_variant", GEMMA, self.paligemma_variant),
            ("action_expert_variant", GEMMA, self.action_expert_variant),
            ("vision_variant", SIGLIP, self.vision_variant),
        ):
            if value not in table:
                raise PolicyError(f"{name} {value!r} is unknown; known: {sorted(table)}")
        backbone, expert = self.backbone, self.expert
        shared = ("num_heads", "num_kv_heads", "head_dim", "depth")
        ours, theirs = [getattr(backbone, a) for a in shared], [getattr(expert, a) for a in shared]
        if ours != theirs:
            raise PolicyError(
                f"the backbone {self.paligemma_variant} and the expert {self.action_expert_variant} attend jointly: "
                f"they must share {shared}, got {ours} and {theirs}"
            )
        if not 0 < self.n_action_steps <= self.chunk_size:
            raise PolicyError(f"n_action_steps {self.n_action_steps} must be in 1..chunk_size ({self.chunk_size})")
        if self.dtype not in DTYPES:
            raise PolicyError(f"dtype {self.dtype!r}: use 'float32' or 'bfloat16'")
        if self.image_resolution[0] % self.vision.patch or self.image_resolution[1] % self.vision.patch:
            raise PolicyError(
                f"image_resolution {self.image_resolution} is not a multiple of the patch size {self.vision.patch}"
            )
        modes = ("IDENTITY", "MEAN_STD", "MIN_MAX", "QUANTILES", "QUANTILE10")
        for kind in ("STATE", "ACTION"):
            if self.normalization_mapping.get(kind, "QUANTILES") not in modes:
                raise PolicyError(
                    f"normalization_mapping {kind}: {self.normalization_mapping[kind]!r} is not one of {modes}"
                )
        if self.vision_position_init not in VISION_POSITION_INITS:
            raise PolicyError(f"vision_position_init {self.vision_position_init!r}: use one of {VISION_POSITION_INITS}")
        if self.flow_num_repeats < 1:
            raise PolicyError(f"flow_num_repeats {self.flow_num_repeats} must be >= 1 (noise draws per sample)")
        if min(self.flow_loss_weight, self.text_loss_weight, self.fast_loss_weight) < 0:
            raise PolicyError("loss weights must be >= 0")
        height, width = self.image_resolution  # lists when read from JSON
        self.image_resolution = (int(height), int(width))
        beta1, beta2 = self.optimizer_betas
        self.optimizer_betas = (float(beta1), float(beta2))

    @property
    def backbone(self) -> GemmaSize:
        return GEMMA[self.paligemma_variant]

    @property
    def expert(self) -> GemmaSize:
        return GEMMA[self.action_expert_variant]

    @property
    def vision(self) -> SiglipSize:
        return SIGLIP[self.vision_variant]

    def normalization(self, kind: str) -> str:
        """The normalization mode of a feature type ("STATE", "ACTION")."""
        return self.normalization_mapping.get(kind, "QUANTILES")

    @property
    def image_tokens(self) -> int:
        return (self.image_resolution[0] // self.vision.patch) * (self.image_resolution[1] // self.vision.patch)

    @classmethod
    def tiny(cls, **overrides: Any) -> PI05Config:
        """Sizes that train in seconds on a CPU, for tests and the demo."""
        sizes = {
            "paligemma_variant": "gemma_tiny",
            "action_expert_variant": "gemma_tiny_expert",
            "vision_variant": "siglip_tiny",
        }
        return cls(
            **{
                **sizes,
                "vocab_size": 1024,
                "chunk_size": 10,
                "n_action_steps": 10,
                "tokenizer_max_length": 48,
                **overrides,
            }
        )

    @classmethod
    def from_lerobot(cls, raw: dict[str, Any]) -> PI05Config:
        """LeRobot's config.json (type "pi05"), with OWN_FIELDS merged in -> config; keys
        LeRobot writes that the model does not use are kept in `extra`."""
        if raw.get("type", "pi05") != "pi05":
            raise PolicyError(f"config.json is a {raw.get('type')!r} policy, not 'pi05'")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values = {k: v for k, v in raw.items() if k in known}
        for key in ("image_resolution", "optimizer_betas"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values, extra={k: v for k, v in raw.items() if k not in known})

    def to_lerobot(self) -> dict[str, Any]:
        """LeRobot's config.json: its PI05Config's fields only (it refuses any other key)."""
        skipped = (*OWN_FIELDS, "extra")
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skipped}
        values = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
        return {"type": "pi05", **self.extra, **values}

    def own_fields(self) -> dict[str, Any]:
        """The fields LeRobot's PI05Config lacks, written beside config.json."""
        return {name: getattr(self, name) for name in OWN_FIELDS}


DTYPES = ("float32", "bfloat16")  # LeRobot's `dtype` values
VISION_POSITION_INITS = ("random", "sincos2d")
# fields of this model that LeRobot's PI05Config lacks: sizes LeRobot fixes in code, the fused losses
OWN_FIELDS = (
    "vision_variant", "vocab_size", "flow_loss_weight", "text_loss_weight", "fast_loss_weight",
    "knowledge_insulation", "fast_skip_tokens", "flow_num_repeats", "vision_position_init",
)  # fmt: skip
