"""The training command on a real converted dataset: losses, checkpoints, exact resume, errors."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from lerobot_drivers.profile import load_profile
from lerobot_policy import train as train_module
from lerobot_policy.augment import ImageAugmentation
from lerobot_policy.bundle import PolicyBundle
from lerobot_policy.collate import Collator
from lerobot_policy.configuration import PI05Config
from lerobot_policy.data import TrainingFrames
from lerobot_policy.errors import PolicyError
from lerobot_policy.optim import cosine_with_warmup
from lerobot_policy.train import TrainConfig, train
from lerobot_policy.train_cli import main
from lerobot_recorder.convert import convert
from lerobot_recorder.reader import DatasetReader
from lerobot_recorder.spec import DatasetSpec
from lerobot_recorder.synthetic import SyntheticArm, write_bag

ALL_LOSSES = {"flow_loss_weight": 1.0, "text_loss_weight": 1.0, "fast_loss_weight": 1.0}


def config(dataset, output, **overrides) -> TrainConfig:
    values = {"dataset": str(dataset), "output": str(output), "steps": 4, "batch_size": 2, "log_every": 1,
              "save_every": 2, "progress": False, "policy": {"fast_loss_weight": 1.0}}  # fmt: skip
    return TrainConfig(**{**values, **overrides})


def test_training_writes_checkpoints_metrics_and_a_loss_curve(dataset_with_subtasks, tmp_path):
    run = tmp_path / "run"
    last = train(config(dataset_with_subtasks, run, grad_accumulation=2, text_target="subtask", policy=ALL_LOSSES))
    assert last == (run / "checkpoints" / "000004").resolve() == (run / "checkpoints" / "last").resolve()
    assert (run / "checkpoints" / "000002" / "training_state" / "optimizer_state.safetensors").exists()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    for record in records:
        assert {"loss", "flow", "text", "fast", "grad_norm", "lr", "samples_per_s"} <= set(record)
        assert math.isclose(record["loss"], record["flow"] + record["text"] + record["fast"], rel_tol=1e-5)
    assert (run / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bundle = PolicyBundle.load(last / "pretrained_model")
    assert bundle.assets.features.cameras == ["observation.images.front", "observation.images.wrist"]
    assert bundle.assets.fast is not None and bundle.policy.config.text_loss_weight == 1.0
    trained = load_file(str(last / "pretrained_model" / "model.safetensors"))
    assert "model.paligemma_with_expert.paligemma.lm_head.weight" in trained  # LeRobot's pi05 layout


def test_a_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(dataset, tmp_path, monkeypatch):
    straight = train(config(dataset, tmp_path / "straight", augment_images=True))  # its draws resume too
    steps_taken = []

    def crashing_step(*args):
        if len(steps_taken) == 3:
            raise RuntimeError("power cut")
        steps_taken.append(1)
        return real_step(*args)

    real_step = train_module._step
    monkeypatch.setattr(train_module, "_step", crashing_step)
    with pytest.raises(RuntimeError, match="power cut"):
        train(config(dataset, tmp_path / "resumed", augment_images=True))  # dies in step 4, after step 2's checkpoint
    monkeypatch.setattr(train_module, "_step", real_step)
    resumed = train(config(dataset, tmp_path / "resumed", augment_images=True, resume=True))
    a = load_file(str(straight / "pretrained_model" / "model.safetensors"))
    b = load_file(str(resumed / "pretrained_model" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    lines = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4]
    straight_log = (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["loss"] for x in lines] == [json.loads(x)["loss"] for x in straight_log]


def test_bf16_autocast_trains_with_finite_losses(dataset, tmp_path):
    train(config(dataset, tmp_path / "run", steps=2, precision="bf16"))
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["loss"]) for r in records)
    weights = load_file(str(tmp_path / "run" / "checkpoints" / "last" / "pretrained_model" / "model.safetensors"))
    assert {w.dtype for w in weights.values()} == {torch.float32}  # master weights stay fp32


def test_samples_follow_lerobots_addressing(dataset):
    frames = TrainingFrames(dataset, chunk_size=10)
    first, second = frames.reader.episodes
    assert len(frames) == second["dataset_to_index"] and frames.state_dim == frames.action_dim == 6
    last_of_first = first["dataset_to_index"] - 1
    sample = frames[last_of_first - 3]
    assert sample["action_pad"].tolist() == [False] * 4 + [True] * 6
    assert (sample["actions"][4:] == frames.actions[last_of_first]).all()  # the last action repeated
    assert (sample["actions"][:4] == frames.reader.episode_data(0)["action"][-4:]).all()
    assert sample["task"] == "pick the cube" and frames[last_of_first + 1]["task"] == "place the cube"
    assert [image.shape for image in sample["images"]] == [(120, 160, 3), (120, 160, 3)]


def test_collated_batches_have_the_pi05_layout(dataset, tmp_path):
    train(config(dataset, tmp_path / "run", steps=1))
    bundle = PolicyBundle.load(tmp_path / "run" / "checkpoints" / "last" / "pretrained_model")
    cfg, assets = bundle.policy.config, bundle.assets
    collator = Collator(cfg, assets.normalizer(cfg), assets.text, assets.fast, fast_max_tokens=40)
    frames = TrainingFrames(dataset, chunk_size=cfg.chunk_size)
    batch = collator([frames[0], frames[100]])
    assert batch.images.shape == (2, 2, 3, 224, 224) and batch.images.min() >= -1 and batch.images.max() <= 1
    assert batch.actions.shape == (2, cfg.chunk_size, 32) and (batch.actions[..., 6:] == 0).all()
    assert batch.prompt.shape == (2, cfg.tokenizer_max_length) and batch.prompt_mask[:, 0].all()
    prompt = assets.text.decode(batch.prompt[0][batch.prompt_mask[0]].tolist())
    assert prompt.startswith("Task: pick the cube, State: ") and prompt.endswith(";\nAction: ")
    bins = prompt.removeprefix("Task: pick the cube, State: ").removesuffix(";\nAction: ").split()
    assert len(bins) == 6 and cfg.max_state_dim == 32, "the robot's 6 state dims, not padded to 32 (LeRobot 0.6)"
    fast = batch.fast[0][batch.fast_mask[0]].tolist()
    assert fast[-1] == assets.text.eos_id
    lowest = cfg.vocab_size - cfg.fast_skip_tokens - assets.fast.config.vocab_size
    codes = [i for i in fast if i >= lowest]
    decoded = assets.fast.decode(list(cfg.vocab_size - 1 - cfg.fast_skip_tokens - torch.tensor(codes)))
    assert abs(decoded - batch.actions[0, :, :6].numpy()).max() < 0.1  # FAST's rounding bound
    collator.augment = ImageAugmentation.for_cameras(frames.cameras)
    augmented = collator([frames[0], frames[100]])
    assert not torch.equal(augmented.images, batch.images) and augmented.images.shape == batch.images.shape
    assert torch.equal(augmented.actions, batch.actions) and torch.equal(augmented.prompt, batch.prompt)


def test_learning_rate_warms_up_then_decays_to_the_floor():
    cfg = PI05Config.tiny(scheduler_warmup_steps=10, scheduler_decay_steps=100)
    f = cosine_with_warmup(cfg, total_steps=1000)
    floor = cfg.scheduler_decay_lr / cfg.optimizer_lr
    assert f(0) == pytest.approx(1 / 11) and f(5) == pytest.approx(1 / 11 + (1 - 1 / 11) / 2)
    # as LeRobot: the cosine counts from step 0, so it has begun when the warm-up ends
    assert f(10) == pytest.approx((1 - floor) * 0.5 * (1 + math.cos(math.pi * 10 / 100)) + floor)
    assert f(100) == pytest.approx(cfg.scheduler_decay_lr / cfg.optimizer_lr) == f(500)
    short = cosine_with_warmup(cfg, total_steps=50)  # LeRobot's scaling for runs shorter than the decay
    assert short(4) < short(5) > short(6) and short(50) == pytest.approx(cfg.scheduler_decay_lr / cfg.optimizer_lr)


def test_errors_name_the_problem_and_the_fix(dataset, tmp_path, capsys):
    with pytest.raises(PolicyError, match="nothing to resume"):
        train(config(dataset, tmp_path / "none", resume=True))
    train(config(dataset, tmp_path / "done", steps=1))
    with pytest.raises(PolicyError, match="already holds a run"):
        train(config(dataset, tmp_path / "done", steps=1))
    with pytest.raises(PolicyError, match=r"no feature \['observation.images.top'\]"):
        train(config(dataset, tmp_path / "cams", cameras=["observation.images.top"]))
    with pytest.raises(PolicyError, match="collide"):
        train(config(dataset, tmp_path / "vocab", fast_vocab_size=900))
    with pytest.raises(PolicyError, match="precision"):
        config(dataset, tmp_path / "p", precision="fp16")
    assert main(["--dataset", str(tmp_path / "missing"), "--output", str(tmp_path / "o")]) == 1
    assert "is not a LeRobot dataset" in capsys.readouterr().err


def test_the_command_line_trains_with_model_overrides(dataset, tmp_path):
    run, camera = tmp_path / "run", DatasetReader(dataset).video_keys[-1]
    code = main(["--dataset", str(dataset), "--output", str(run), "--steps", "2", "--batch-size", "2",
                 "--set", "flow_loss_weight=1", "--set", "chunk_size=8", "--set", "n_action_steps=8",
                 "--set", "optimizer_lr=1e-3", "--set", "knowledge_insulation=true",
                 "--camera", camera, "--augment-images"])  # fmt: skip
    assert code == 0
    assert yaml.safe_load((run / "train_config.yaml").read_text())["augment_images"] is True
    folder = run / "checkpoints" / "last" / "pretrained_model"
    assert json.loads((folder / "features.json").read_text())["cameras"] == [camera]
    saved = json.loads((folder / "config.json").read_text())
    assert saved["type"] == "pi05" and saved["chunk_size"] == 8 and saved["optimizer_lr"] == 1e-3
    assert json.loads((folder / "pi05_fields.json").read_text())["knowledge_insulation"] is True
    # resumed from the run folder alone, it goes on with the options it started with
    assert main(["--output", str(run), "--resume", "--steps", "3", "--log-every", "1"]) == 0
    options = yaml.safe_load((run / "train_config.yaml").read_text())
    assert options["steps"] == 3 and options["cameras"] == [camera] and options["augment_images"] is True
    assert options["policy"]["chunk_size"] == 8 and json.loads((folder / "config.json").read_text())["chunk_size"] == 8
    assert json.loads((folder / "features.json").read_text())["cameras"] == [camera]


def test_a_resumed_run_refuses_another_model(dataset, tmp_path):
    train(config(dataset, tmp_path / "run", steps=2, policy={"image_resolution": [112, 112]}))
    with pytest.raises(PolicyError, match=r"image_resolution \(112, 112\) \(asked \(224, 224\)\).*train_config.yaml"):
        train(config(dataset, tmp_path / "run", steps=3, resume=True))


@pytest.mark.slow
def test_two_processes_under_torchrun_train_one_model(dataset, tmp_path):
    """DistributedDataParallel over gloo, as on a multi-GPU machine with CPUs: rank 0 alone writes."""
    run = tmp_path / "run"
    torchrun = Path(sys.executable).parent / "torchrun"
    result = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "lerobot_policy.train_cli",
         "--dataset", str(dataset), "--output", str(run), "--steps", "3", "--batch-size", "2", "--log-every", "1"],
        capture_output=True, text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    PolicyBundle.load(run / "checkpoints" / "last" / "pretrained_model")


@pytest.mark.slow
def test_a_tiny_model_overfits_a_tiny_dataset_through_the_training_command(tmp_path):
    """One 0.8 s episode (about 24 frames), flow + FAST in one pass: both losses fall 10x."""
    bag = write_bag(tmp_path / "bag", SyntheticArm(), [(0, 0.8, "pick the cube")])
    profile = load_profile(Path(__file__).resolve().parents[2] / "config" / "so101_follower_sim.yaml")
    convert([bag], DatasetSpec.from_profile(profile), tmp_path / "ds", codec="libx264")
    schedule = {"optimizer_lr": 3e-3, "scheduler_warmup_steps": 20, "scheduler_decay_lr": 3e-4,
                "scheduler_decay_steps": 400}  # fmt: skip
    train(config(tmp_path / "ds", tmp_path / "run", steps=400, batch_size=4, log_every=10, save_every=400,
                 policy={"flow_loss_weight": 1.0, "fast_loss_weight": 1.0, **schedule}))  # fmt: skip
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    first, last = records[0], records[-1]  # means over steps 1-10 and 391-400
    for loss in ("loss", "flow", "fast"):
        assert last[loss] < first[loss] / 10, f"{loss}: {first[loss]:.3f} -> {last[loss]:.3f}"
