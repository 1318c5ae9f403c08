"""FAST tokens: DCT round trip, BPE compression, persistence, the backbone id mapping."""

import numpy as np
import pytest

from lerobot_policy.fast import FastError, FastTokenizer, dct_matrix, from_backbone_ids, to_backbone_ids


def smooth_chunks(n: int, horizon: int = 50, dim: int = 7, seed: int = 0) -> np.ndarray:
    """Normalized, smooth action chunks like a real arm's: sums of low-frequency sines."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, horizon)[None, :, None]
    freq = rng.uniform(0.2, 2.0, (n, 1, dim))
    phase = rng.uniform(0, 2 * np.pi, (n, 1, dim))
    return np.clip(0.8 * np.sin(2 * np.pi * freq * t + phase), -1, 1)


def test_dct_is_orthonormal():
    m = dct_matrix(50)
    np.testing.assert_allclose(m @ m.T, np.eye(50), atol=1e-12)


def test_round_trip_within_the_quantization_bound():
    chunks = smooth_chunks(200)
    tokenizer = FastTokenizer.fit(chunks[:150], vocab_size=1024)
    for chunk in chunks[150:]:
        ids = tokenizer.encode(chunk)
        back = tokenizer.decode(ids)
        # rounding error is at most 0.5/scale per coefficient; orthonormal inverse keeps the L2 norm
        assert np.linalg.norm(back - chunk) <= 0.5 / 10 * np.sqrt(chunk.size) + 1e-9
        assert np.sqrt(np.mean((back - chunk) ** 2)) <= 0.5 / 10 / np.sqrt(3) * 1.5  # ~uniform rounding noise


def test_bpe_compresses_smooth_chunks():
    chunks = smooth_chunks(300)
    tokenizer = FastTokenizer.fit(chunks[:250])
    lengths = [len(tokenizer.encode(c)) for c in chunks[250:]]
    assert np.mean(lengths) < 0.5 * 50 * 7, f"{np.mean(lengths)} tokens for 350 coefficients"


def test_save_and_load_give_the_same_tokens(tmp_path):
    chunks = smooth_chunks(100)
    tokenizer = FastTokenizer.fit(chunks)
    tokenizer.save(tmp_path / "fast")
    loaded = FastTokenizer.load(tmp_path / "fast")
    assert loaded.config == tokenizer.config
    assert loaded.encode(chunks[3]) == tokenizer.encode(chunks[3])


def test_decoding_a_short_or_garbled_sequence_never_raises():
    tokenizer = FastTokenizer.fit(smooth_chunks(50))
    assert tokenizer.decode([]).shape == (50, 7)
    assert tokenizer.decode(tokenizer.encode(smooth_chunks(1, seed=9)[0])[:3]).shape == (50, 7)


def test_backbone_mapping_is_its_own_inverse():
    ids = np.arange(1024)
    mapped = to_backbone_ids(ids, 257152)
    assert mapped.max() == 257152 - 1 - 128 and mapped.min() == 257152 - 1 - 128 - 1023
    np.testing.assert_array_equal(from_backbone_ids(mapped, 257152), ids)


def test_errors_name_the_problem(tmp_path):
    tokenizer = FastTokenizer.fit(smooth_chunks(20))
    with pytest.raises(FastError, match=r"expects chunks of shape \(50, 7\), got \(10, 7\)"):
        tokenizer.encode(np.zeros((10, 7)))
    with pytest.raises(FastError, match="not trained"):
        FastTokenizer(tokenizer.config).encode(np.zeros((50, 7)))
    with pytest.raises(FastError, match=r"fast_config\.json is missing"):
        FastTokenizer.load(tmp_path)
    with pytest.raises(FastError, match="raise vocab_size or lower scale"):
        FastTokenizer.fit(smooth_chunks(20) * 50, vocab_size=300)
