"""Test node: publishes one known ActionChunk repeatedly until stopped.

The chunk is derived from --seed, so the test can rebuild the exact values it expects.
"""

from __future__ import annotations

import argparse

import numpy as np
from rclpy.node import Node

from lerobot_msgs.msg import ActionChunk as ActionChunkMsg
from lerobot_policy.action_chunk import ActionChunk
from lerobot_policy.nodes.chunk_messages import chunk_to_msg


def expected_chunk(seed: int, horizon: int, dim: int) -> ActionChunk:
    rng = np.random.default_rng(seed)
    return ActionChunk(
        joint_names=tuple(f"joint_{j}" for j in range(dim)),
        values=rng.standard_normal((horizon, dim)),
        period_s=1 / 30,
        observation_stamp_ns=1_700_000_000_123_456_789,
        sequence=seed,
        start_offset_s=0.005,
    )


class ChunkTalker(Node):
    def __init__(self, chunk: ActionChunk) -> None:
        super().__init__("chunk_talker")
        self._chunk = chunk
        self._publisher = self.create_publisher(ActionChunkMsg, "action_chunk", 10)
        self.create_timer(0.1, self._publish)

    def _publish(self) -> None:
        self._publisher.publish(chunk_to_msg(self._chunk, self.get_clock().now().nanoseconds))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--horizon", type=int, default=50)
    parser.add_argument("--dim", type=int, default=6)
    args = parser.parse_args()
    from spin import spin_until_stopped  # run as a script: tests/nodes is on sys.path

    spin_until_stopped(lambda: ChunkTalker(expected_chunk(args.seed, args.horizon, args.dim)), "chunk_talker ready")


if __name__ == "__main__":
    main()
