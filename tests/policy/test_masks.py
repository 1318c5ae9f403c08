"""Every block rule of the fused attention mask, and the positions."""

import torch

from lerobot_policy.masks import NEG_INF, Segments, additive, fused_masks, make_att_2d_masks

SEG = Segments(images=3, prompt=2, targets=2, fast=3, suffix=4)
IMG, PROMPT = range(0, 3), range(3, 5)
TARGETS, FAST, SUFFIX = range(5, 7), range(7, 10), range(10, 14)


def allowed(pad=None):
    pad = torch.ones(1, SEG.total, dtype=torch.bool) if pad is None else pad
    mask, pos = fused_masks(SEG, pad)
    return mask[0], pos[0]


def sees(mask, rows, cols) -> bool:
    return bool(mask[list(rows)][:, list(cols)].all())


def blind(mask, rows, cols) -> bool:
    return not bool(mask[list(rows)][:, list(cols)].any())


def test_images_and_prompt_are_one_bidirectional_block():
    mask, _ = allowed()
    assert sees(mask, [*IMG, *PROMPT], [*IMG, *PROMPT])
    assert blind(mask, [*IMG, *PROMPT], [*TARGETS, *FAST, *SUFFIX])


def test_text_targets_are_causal():
    mask, _ = allowed()
    assert sees(mask, TARGETS, [*IMG, *PROMPT])
    assert mask[5, 5] and not mask[5, 6] and mask[6, 5] and mask[6, 6]
    assert blind(mask, TARGETS, [*FAST, *SUFFIX])


def test_fast_is_causal_sees_language_and_not_the_suffix():
    mask, _ = allowed()
    assert sees(mask, FAST, [*IMG, *PROMPT, *TARGETS])
    for i in FAST:
        assert all(mask[i, j] == (j <= i) for j in FAST)
    assert blind(mask, FAST, SUFFIX)


def test_suffix_cannot_see_fast():
    mask, _ = allowed()
    assert blind(mask, SUFFIX, FAST)
    assert sees(mask, SUFFIX, [*IMG, *PROMPT, *TARGETS, *SUFFIX])


def test_padding_neither_sees_nor_is_seen():
    pad = torch.ones(1, SEG.total, dtype=torch.bool)
    pad[0, 4] = False  # a padded prompt token
    pad[0, 9] = False  # a padded FAST token
    mask, _ = allowed(pad)
    assert not mask[4].any() and not mask[:, 4].any()
    assert not mask[9].any() and not mask[:, 9].any()


def test_suffix_positions_continue_after_the_non_fast_prefix():
    pad = torch.ones(1, SEG.total, dtype=torch.bool)
    pad[0, 4] = False
    _, pos = allowed(pad)
    non_fast_prefix = 3 + 1 + 2  # images, one valid prompt token, targets
    assert pos[list(SUFFIX)].tolist() == list(range(non_fast_prefix, non_fast_prefix + 4))
    assert pos[list(FAST)].tolist() == [6, 7, 8]
    # the same positions as an inference pass, which has no FAST tokens
    inference = Segments(images=3, prompt=2, targets=2, suffix=4)
    pad_inf = torch.ones(1, inference.total, dtype=torch.bool)
    pad_inf[0, 4] = False
    _, pos_inf = fused_masks(inference, pad_inf)
    assert pos_inf[0, -4:].tolist() == pos[list(SUFFIX)].tolist()


def test_make_att_2d_masks_matches_the_reference_rule():
    pad = torch.tensor([[True, True, True, False]])
    att = torch.tensor([[0, 0, 1, 0]])
    mask = make_att_2d_masks(pad, att)[0]
    c = torch.cumsum(att[0], 0)
    for i in range(4):
        for j in range(4):
            assert mask[i, j] == (bool(c[j] <= c[i]) and bool(pad[0, i]) and bool(pad[0, j]))


def test_additive_mask():
    mask, _ = allowed()
    add = additive(mask[None])
    assert add.shape == (1, 1, SEG.total, SEG.total)
    assert add[0, 0, 10, 7] == NEG_INF and add[0, 0, 10, 0] == 0
