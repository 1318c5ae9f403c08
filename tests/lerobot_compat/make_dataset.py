"""Build a dataset with the suite's converter and write what LeRobot must read from it."""

import json
import sys
from pathlib import Path

from lerobot_drivers.cameras import decode_index
from lerobot_drivers.profile import load_profile
from lerobot_recorder.convert import convert
from lerobot_recorder.reader import DatasetReader
from lerobot_recorder.spec import DatasetSpec
from lerobot_recorder.synthetic import SyntheticArm, write_bag

ROOT = Path(__file__).resolve().parents[2]


def main(work: Path) -> None:
    spec = DatasetSpec.from_profile(load_profile(ROOT / "config" / "so101_follower_sim.yaml"))
    bag = write_bag(work / "bag", SyntheticArm(width=128, height=96), [(0, 3, "pick the cube"), (3.5, 6, "place it")])
    convert([bag], spec, work / "dataset")
    reader = DatasetReader(work / "dataset")
    expected = {"frames": reader.num_frames, "episodes": reader.num_episodes, "items": {}}
    for index in (0, 45, reader.num_frames - 1):
        item = reader.frame(index)
        expected["items"][index] = {
            "observation.state": item["observation.state"].tolist(),
            "action": item["action"].tolist(),
            "task": item["task"],
            "episode_index": int(item["episode_index"]),
            **{key: decode_index(item[key]) for key in reader.video_keys},
        }
    (work / "expected.json").write_text(json.dumps(expected, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
