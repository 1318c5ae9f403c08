"""Run with LeRobot's own venv: load the suite's dataset with LeRobotDataset, offline, compare
it with what the suite wrote, then train a policy on it for a few steps."""

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset


def frame_index_of(image_chw) -> int:
    """The index the suite's synthetic frames carry in their first row (2-pixel cells)."""
    row = (np.asarray(image_chw).transpose(1, 2, 0)[:2] * 255).mean(axis=(0, 2))
    return sum(1 << bit for bit in range(32) if row[2 * bit : 2 * bit + 2].mean() > 127)


def main(work: Path) -> None:
    expected = json.loads((work / "expected.json").read_text())
    dataset = LeRobotDataset("local/suite_compat", root=work / "dataset", video_backend="pyav")
    assert len(dataset) == expected["frames"], (len(dataset), expected["frames"])
    assert dataset.num_episodes == expected["episodes"]
    for index, want in expected["items"].items():
        item = dataset[int(index)]
        np.testing.assert_allclose(item["observation.state"].numpy(), want["observation.state"], rtol=0, atol=1e-7)
        np.testing.assert_allclose(item["action"].numpy(), want["action"], rtol=0, atol=1e-7)
        assert item["task"] == want["task"] and int(item["episode_index"]) == want["episode_index"]
        for key in (k for k in want if k.startswith("observation.images.")):
            assert frame_index_of(item[key].numpy()) == want[key], (index, key)
    print(f"LeRobotDataset loaded {len(dataset)} frames in {dataset.num_episodes} episodes; values and frames match")
    train = subprocess.run(
        [sys.executable, "-m", "lerobot.scripts.lerobot_train", "--dataset.repo_id=local/suite_compat",
         f"--dataset.root={work / 'dataset'}", "--dataset.video_backend=pyav", "--policy.type=act",
         "--policy.device=cpu", "--policy.push_to_hub=false", "--policy.pretrained_backbone_weights=null",
         "--steps=3", "--batch_size=2", "--num_workers=0", "--save_checkpoint=false",
         "--log_freq=1", "--wandb.enable=false", f"--output_dir={work / 'train'}"],
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    if train.returncode != 0:
        raise SystemExit(f"LeRobot training failed:\n{train.stdout[-3000:]}\n{train.stderr[-5000:]}")
    print(
        "LeRobot trained ACT for 3 steps on it: "
        + next((line for line in train.stderr.splitlines()[::-1] if "step" in line), "ok")
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
