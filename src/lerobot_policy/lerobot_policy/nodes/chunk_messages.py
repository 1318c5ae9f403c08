"""ActionChunk <-> lerobot_msgs/ActionChunk (values row-major, horizon x action_dim)."""

from __future__ import annotations

import numpy as np

from lerobot_drivers.ros_time import duration_to_s, ns_to_time, s_to_duration, time_to_ns
from lerobot_msgs.msg import ActionChunk as ActionChunkMsg
from lerobot_policy.action_chunk import ActionChunk
from lerobot_policy.errors import ActionChunkError


def chunk_to_msg(chunk: ActionChunk, stamp_ns: int) -> ActionChunkMsg:
    msg = ActionChunkMsg()
    msg.header.stamp = ns_to_time(stamp_ns)
    msg.observation_stamp = ns_to_time(chunk.observation_stamp_ns)
    msg.sequence = chunk.sequence
    msg.joint_names = list(chunk.joint_names)
    msg.horizon = chunk.horizon
    msg.action_dim = chunk.action_dim
    msg.period = s_to_duration(chunk.period_s)
    msg.start_offset = s_to_duration(chunk.start_offset_s)
    msg.values = chunk.values.ravel().tolist()
    return msg


def chunk_from_msg(msg: ActionChunkMsg) -> ActionChunk:
    expected = msg.horizon * msg.action_dim
    if len(msg.values) != expected:
        raise ActionChunkError(
            f"ActionChunk #{msg.sequence} has {len(msg.values)} values, but horizon "
            f"{msg.horizon} x action_dim {msg.action_dim} = {expected}: the sender must fill "
            "values row-major with horizon * action_dim numbers"
        )
    return ActionChunk(
        joint_names=tuple(msg.joint_names),
        values=np.asarray(msg.values, dtype=np.float64).reshape(msg.horizon, msg.action_dim),
        period_s=duration_to_s(msg.period),
        observation_stamp_ns=time_to_ns(msg.observation_stamp),
        sequence=msg.sequence,
        start_offset_s=duration_to_s(msg.start_offset),
    )
