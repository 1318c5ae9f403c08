"""The text tokenizer: a small one trained here, loaded back through the path PaliGemma's takes."""

import pytest

from lerobot_policy.errors import PolicyError
from lerobot_policy.processor import pi05_prompt
from lerobot_policy.text import TextTokenizer, train_small_tokenizer

PROMPTS = [
    pi05_prompt(task, [s / 10, -s / 10, 0.5]) for task in ("pick the cube", "open_the drawer") for s in range(10)
]


@pytest.fixture(scope="module")
def tokenizer():
    return train_small_tokenizer([*PROMPTS, "reach", "grasp", "|"], vocab_size=300)


def test_prompts_start_with_bos_and_are_right_padded_and_truncated(tokenizer):
    ids, mask = tokenizer.encode([PROMPTS[0], "Task: x"], max_length=64)
    assert ids.shape == mask.shape == (2, 64)
    assert (ids[:, 0] == tokenizer.tokenizer.bos_token_id).all()
    assert mask[1].tolist() == sorted(mask[1].tolist(), reverse=True)  # real tokens, then padding
    assert (ids[1][~mask[1]] == tokenizer.tokenizer.pad_token_id).all()
    assert tokenizer.decode(ids[0][mask[0]].tolist()) == PROMPTS[0]
    short, short_mask = tokenizer.encode([PROMPTS[0]], max_length=5)
    assert short.shape == (1, 5) and short_mask.all()


def test_targets_continue_the_prompt_and_end_with_eos(tokenizer):
    ids, mask = tokenizer.encode_targets(["grasp", "reach the cube and grasp it now"], max_length=6)
    assert ids[0, 0] != tokenizer.tokenizer.bos_token_id
    assert ids[0][mask[0]].tolist()[-1] == tokenizer.eos_id and ids[1, 5] == tokenizer.eos_id and mask[1].all()
    assert tokenizer.decode(ids[0][mask[0]].tolist()) == "grasp"


def test_saved_tokenizers_load_from_a_folder_with_the_same_ids(tokenizer, tmp_path):
    tokenizer.save(tmp_path / "tok")
    loaded = TextTokenizer.load(tmp_path / "tok")
    assert len(loaded) == len(tokenizer) <= 300
    assert loaded.encode(PROMPTS, 96)[0].equal(tokenizer.encode(PROMPTS, 96)[0])


def test_a_missing_tokenizer_names_what_to_give(tmp_path):
    with pytest.raises(PolicyError, match=r"local folder that holds tokenizer\.json"):
        TextTokenizer.load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PolicyError, match=r"google/paligemma-3b-pt-224"):
        TextTokenizer.load(tmp_path / "empty")
