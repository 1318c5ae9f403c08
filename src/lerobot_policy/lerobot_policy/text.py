"""The text tokenizer: PaliGemma's from a local folder or a hub id, or a small one trained here.

pi05 checkpoints read prompts tokenized by `google/paligemma-3b-pt-224` (BOS first, right
padding to tokenizer_max_length), so a real checkpoint needs that tokenizer; it is loaded
with `AutoTokenizer` from files only (no remote code). Tests and the demo cannot download
it: `train_small_tokenizer` fits a byte-level BPE on the prompts a dataset produces and
saves it in the same `tokenizer.json` layout, so both load through one path.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from lerobot_policy.errors import PolicyError

PALIGEMMA = "google/paligemma-3b-pt-224"
SPECIALS = {"pad_token": "<pad>", "eos_token": "<eos>", "bos_token": "<bos>", "unk_token": "<unk>"}


class TextTokenizer:
    """Prompts and text targets -> padded id tensors, as LeRobot's pi05 processor makes them."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        if tokenizer.pad_token_id is None or tokenizer.eos_token_id is None:
            raise PolicyError("the text tokenizer needs a pad and an eos token")
        self.tokenizer = tokenizer

    @classmethod
    def load(cls, name_or_folder: str | Path) -> TextTokenizer:
        """A local folder with tokenizer.json (or sentencepiece files), or a hub id when online."""
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(name_or_folder), trust_remote_code=False)
        except (OSError, ValueError) as exc:
            raise PolicyError(
                f"cannot load the text tokenizer {str(name_or_folder)!r}: {exc}. Give a local folder that holds "
                f"tokenizer.json (e.g. a download of {PALIGEMMA}), or a hub id with network access"
            ) from None
        return cls(tokenizer)

    def __len__(self) -> int:
        return len(self.tokenizer)

    @property
    def eos_id(self) -> int:
        return int(self.tokenizer.eos_token_id)

    def save(self, folder: Path) -> None:
        self.tokenizer.save_pretrained(str(folder))

    def encode(self, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompts with the tokenizer's special tokens (BOS), right-padded and truncated:
        (ids, mask) of shape (len(texts), max_length)."""
        out = self.tokenizer(
            texts, max_length=max_length, padding="max_length", truncation=True, padding_side="right",
            return_tensors="pt",
        )  # fmt: skip
        return out["input_ids"], out["attention_mask"].bool()

    def encode_targets(self, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Text targets: no BOS (they continue the prompt), each ended by EOS, right-padded."""
        rows = [
            [*self.tokenizer.encode(text, add_special_tokens=False)[: max_length - 1], self.eos_id] for text in texts
        ]
        return self.pad(rows, max_length)

    def pad(self, rows: list[list[int]], length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Id rows (each at most `length`) -> right-padded (ids, mask) of shape (len(rows), length)."""
        ids = torch.full((len(rows), length), int(self.tokenizer.pad_token_id), dtype=torch.long)
        mask = torch.zeros(len(rows), length, dtype=torch.bool)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = True
        return ids, mask

    def ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))


def train_small_tokenizer(texts: Iterable[str], vocab_size: int) -> TextTokenizer:
    """A byte-level BPE of at most `vocab_size` ids over `texts`, adding BOS like PaliGemma's."""
    bpe = Tokenizer(models.BPE(unk_token=SPECIALS["unk_token"]))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    specials = list(SPECIALS.values())
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )  # fmt: skip
    bpe.train_from_iterator(texts, trainer=trainer)
    bos = SPECIALS["bos_token"]
    bpe.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, bpe.token_to_id(bos))]
    )
    return TextTokenizer(PreTrainedTokenizerFast(tokenizer_object=bpe, **SPECIALS))
