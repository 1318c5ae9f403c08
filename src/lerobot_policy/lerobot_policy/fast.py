"""FAST action tokens: DCT along time, scale, round, then byte-pair encoding.

A normalized chunk (horizon, action_dim) becomes DCT-II coefficients per action dimension
(orthonormal, so the inverse is the transpose), scaled and rounded to integers, flattened
frequency-major, shifted to be non-negative and written as one character per integer; a BPE
trained on a dataset's chunks compresses those strings. Low frequencies carry most of a smooth
motion, so chunks become short token sequences. Saved as tokenizers' JSON plus a small config:
loading executes nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, models, trainers

from lerobot_policy.errors import PolicyError

CONFIG_FILE = "fast_config.json"
TOKENIZER_FILE = "fast_tokenizer.json"


class FastError(PolicyError):
    """The FAST tokenizer is untrained, misconfigured, or got chunks of the wrong shape."""


@cache
def dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II: coefficients = M @ signal, signal = M.T @ coefficients."""
    k = np.arange(n)[:, None]
    t = np.arange(n)[None, :]
    matrix = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * t + 1) * k / (2 * n))
    matrix[0] /= np.sqrt(2.0)
    return matrix


@dataclass(frozen=True)
class FastConfig:
    horizon: int
    action_dim: int
    scale: float = 10.0
    vocab_size: int = 1024
    min_code: int = 0  # smallest rounded coefficient seen in training: the character offset
    max_code: int = 0


class FastTokenizer:
    def __init__(self, config: FastConfig, bpe: Tokenizer | None = None) -> None:
        if config.horizon < 1 or config.action_dim < 1 or config.scale <= 0:
            raise FastError(f"horizon, action_dim and scale must be positive, got {config}")
        self.config = config
        self.bpe = bpe

    # --- coefficients -----------------------------------------------------------------------
    def codes(self, chunk: np.ndarray) -> np.ndarray:
        """(horizon, action_dim) normalized actions -> rounded scaled DCT coefficients."""
        chunk = np.asarray(chunk, dtype=np.float64)
        expected = (self.config.horizon, self.config.action_dim)
        if chunk.shape != expected:
            raise FastError(f"FAST expects chunks of shape {expected}, got {chunk.shape}")
        return np.rint(dct_matrix(self.config.horizon) @ chunk * self.config.scale).astype(np.int64)

    def actions_from_codes(self, codes: np.ndarray) -> np.ndarray:
        return dct_matrix(self.config.horizon).T @ (np.asarray(codes, dtype=np.float64) / self.config.scale)

    def _text(self, codes: np.ndarray) -> str:
        shifted = np.clip(codes.reshape(-1) - self.config.min_code, 0, self.config.max_code - self.config.min_code)
        return "".join(map(chr, shifted))

    # --- training ---------------------------------------------------------------------------
    @classmethod
    def fit(cls, chunks: np.ndarray, *, scale: float = 10.0, vocab_size: int = 1024) -> FastTokenizer:
        """Train the BPE on (N, horizon, action_dim) normalized chunks."""
        chunks = np.asarray(chunks, dtype=np.float64)
        if chunks.ndim != 3 or len(chunks) == 0:
            raise FastError(f"fit() needs (N, horizon, action_dim) chunks, got shape {chunks.shape}")
        probe = cls(FastConfig(chunks.shape[1], chunks.shape[2], scale))
        codes = np.stack([probe.codes(c) for c in chunks])
        config = FastConfig(chunks.shape[1], chunks.shape[2], scale, vocab_size, int(codes.min()), int(codes.max()))
        tokenizer = cls(config)
        alphabet = [chr(i) for i in range(config.max_code - config.min_code + 1)]
        if len(alphabet) > vocab_size:
            raise FastError(
                f"the coefficients span {len(alphabet)} values but the vocabulary has {vocab_size}: "
                "raise vocab_size or lower scale"
            )
        bpe = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=alphabet, show_progress=False)
        bpe.train_from_iterator((tokenizer._text(c) for c in codes), trainer=trainer)
        tokenizer.bpe = bpe
        return tokenizer

    # --- encode / decode --------------------------------------------------------------------
    def _trained(self) -> Tokenizer:
        if self.bpe is None:
            raise FastError("the FAST tokenizer is not trained: fit() it on a dataset's chunks, or load() one")
        return self.bpe

    def encode(self, chunk: np.ndarray) -> list[int]:
        return self._trained().encode(self._text(self.codes(chunk))).ids

    def decode(self, ids: list[int]) -> np.ndarray:
        """Tokens -> actions; a sequence from a model that does not fill whole steps is
        padded with zero coefficients (or cut), never an exception mid-control-loop."""
        bpe = self._trained()
        text = "".join(bpe.id_to_token(i) or "" for i in ids)
        values = np.array([ord(ch) for ch in text], dtype=np.int64) + self.config.min_code
        size = self.config.horizon * self.config.action_dim
        codes = np.zeros(size, dtype=np.int64)
        codes[: min(size, len(values))] = values[:size]
        return self.actions_from_codes(codes.reshape(self.config.horizon, self.config.action_dim))

    # --- persistence ------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2))
        self._trained().save(str(folder / TOKENIZER_FILE))

    @classmethod
    def load(cls, folder: Path) -> FastTokenizer:
        folder = Path(folder)
        try:
            config = FastConfig(**json.loads((folder / CONFIG_FILE).read_text()))
            bpe = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        except FileNotFoundError as exc:
            raise FastError(f"no FAST tokenizer in {folder}: {exc.filename} is missing") from None
        except (TypeError, ValueError, json.JSONDecodeError) as exc:
            raise FastError(f"the FAST tokenizer in {folder} is malformed: {exc}") from None
        return cls(config, bpe)


def to_backbone_ids(fast_ids: np.ndarray, backbone_vocab: int, skip: int = 128) -> np.ndarray:
    """FAST ids into the last rows of the backbone vocabulary (as pi0-FAST: the rarely used end,
    skipping the final `skip` special tokens)."""
    return backbone_vocab - 1 - skip - np.asarray(fast_ids)


def from_backbone_ids(ids: np.ndarray, backbone_vocab: int, skip: int = 128) -> np.ndarray:
    return backbone_vocab - 1 - skip - np.asarray(ids)
