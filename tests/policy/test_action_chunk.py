import numpy as np
import pytest

from lerobot_policy.action_chunk import ActionChunk
from lerobot_policy.errors import ActionChunkError
from lerobot_policy.nodes.chunk_messages import chunk_from_msg, chunk_to_msg


def make_chunk(**overrides) -> ActionChunk:
    fields = dict(
        joint_names=("a", "b", "c"),
        values=np.arange(12, dtype=np.float64).reshape(4, 3) / 7,
        period_s=0.02,
        observation_stamp_ns=5_000_000_123,
        sequence=42,
        start_offset_s=0.01,
    )
    return ActionChunk(**{**fields, **overrides})


def test_message_round_trip_is_exact():
    chunk = make_chunk()
    msg = chunk_to_msg(chunk, stamp_ns=6_000_000_000)
    assert (msg.horizon, msg.action_dim, msg.sequence) == (4, 3, 42)
    assert msg.header.stamp.sec == 6
    back = chunk_from_msg(msg)
    np.testing.assert_array_equal(back.values, chunk.values)
    assert back.joint_names == chunk.joint_names
    assert back.observation_stamp_ns == chunk.observation_stamp_ns
    assert back.period_s == pytest.approx(0.02, abs=1e-9)
    assert back.start_offset_s == pytest.approx(0.01, abs=1e-9)


def test_values_are_row_major():
    msg = chunk_to_msg(make_chunk(), stamp_ns=0)
    assert list(msg.values[:3]) == pytest.approx([0, 1 / 7, 2 / 7])


def test_step_stamps_follow_period_and_offset():
    chunk = make_chunk()
    assert chunk.step_stamp_ns(0) == 5_000_000_123 + 10_000_000
    assert chunk.step_stamp_ns(3) == 5_000_000_123 + 10_000_000 + 60_000_000


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"values": np.zeros(3)}, r"must be \(horizon, action_dim\)"),
        ({"joint_names": ("a", "b")}, "3 columns but 2 joint names"),
        ({"values": np.full((2, 3), np.nan)}, "NaN or Inf"),
        ({"period_s": 0.0}, "period_s must be > 0"),
    ],
)
def test_bad_chunks_are_refused(overrides, message):
    with pytest.raises(ActionChunkError, match=message):
        make_chunk(**overrides)


def test_message_with_wrong_value_count_is_refused():
    msg = chunk_to_msg(make_chunk(), stamp_ns=0)
    msg.values = msg.values[:-1]
    with pytest.raises(ActionChunkError, match="has 11 values, but horizon 4 x action_dim 3 = 12"):
        chunk_from_msg(msg)
