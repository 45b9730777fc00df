"""Training: exact resume, atomic checkpoints, the NaN guard, bad input, export."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from stdann.cli import main as stdann_main
from stdann.config import ConfigError, load_config
from stdann.model.moco import MoCo
from stdann.train import NonFiniteLossError, TrainingError, train
from stdann.train.checkpoint import CheckpointError, list_checkpoints, load_checkpoint
from train_fixtures import CONFIGS, MICRO, micro_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return micro_corpus(tmp_path_factory.mktemp("micro"))


def micro(corpus, *extra: str):
    return load_config(CONFIGS / "tiny.yaml", [*MICRO, f"data.root={corpus}", *extra])


def params(moco: MoCo) -> dict[str, torch.Tensor]:
    state = {f"q.{k}": v for k, v in moco.query_encoder().state_dict().items()}
    state.update({f"k.{k}": v for k, v in moco.encoder_k.state_dict().items()})
    state.update(queue=moco.queue, queue_videos=moco.queue_videos)
    return state


def test_resume_is_bit_identical_to_a_straight_run(corpus, tmp_path):
    """2N steps straight equal N steps, a stop, a resume and N more, on the CPU
    (the spatial loss on, so its neighbourhood generator is restored too; one
    epoch is 2 steps, so the resume also crosses epochs)."""
    straight = train(micro(corpus, "train.steps=6"), tmp_path / "a", progress=False)
    first = train(micro(corpus, "train.steps=6"), tmp_path / "b", progress=False, stop_at=3)
    assert first.step == 3 and not first.finished
    assert not (tmp_path / "b" / "finished.json").exists()
    resumed = train(micro(corpus, "train.steps=6"), tmp_path / "b", progress=False)
    assert resumed.step == 6
    a, b = params(straight.moco), params(resumed.moco)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [s for s, _ in list_checkpoints(tmp_path / "b" / "checkpoints")] == [3, 4, 6]
    metrics = [
        json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    ]
    logged = [m for m in metrics if "loss" in m]
    assert [m["step"] for m in logged] == [1, 2, 3, 4, 5, 6]
    for m in logged:
        assert m["chance"] == pytest.approx(torch.log(torch.tensor(33.0)).item())
        assert 0 <= m["data_wait"] <= 1 and m["clips_per_s"] > 0
        assert "spatial_layer3.1" in m
    assert any("knn_same_video" in m for m in metrics)


def test_sample_flips_change_training_and_resume_exactly(corpus, tmp_path):
    """With data.sample_flip_p on, a stop and a resume equal the straight run
    (the flips are fixed by seed, rank and step), and differ from no flips."""
    flips = "data.sample_flip_p=[0.5, 0.5]"
    straight = train(micro(corpus, "train.steps=4", flips), tmp_path / "a", progress=False)
    train(micro(corpus, "train.steps=4", flips), tmp_path / "b", progress=False, stop_at=2)
    resumed = train(micro(corpus, "train.steps=4", flips), tmp_path / "b", progress=False)
    plain = train(micro(corpus, "train.steps=4"), tmp_path / "c", progress=False)
    a, b, c = params(straight.moco), params(resumed.moco), params(plain.moco)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_resume_refuses_a_changed_config(corpus, tmp_path):
    train(micro(corpus, "train.steps=2"), tmp_path, progress=False)
    with pytest.raises(CheckpointError, match=r"differs in moco\.temperature"):
        train(micro(corpus, "train.steps=4", "moco.temperature=0.3"), tmp_path, progress=False)
    with pytest.raises(TrainingError, match="already holds checkpoints"):
        train(micro(corpus, "train.steps=4"), tmp_path, resume=False, progress=False)


def test_checkpoints_load_weights_only_and_hold_the_whole_state(corpus, tmp_path):
    result = train(micro(corpus, "train.steps=2"), tmp_path, progress=False)
    state = torch.load(result.checkpoint, weights_only=True)
    assert state["step"] == 2 and state["epoch"] == 1 and state["batch"] == 0
    assert set(state["moco"]) == {"encoder_q", "encoder_k", "queue", "queue_videos", "queue_ptr"}
    assert set(state["random_states"][0]) >= {"python", "numpy", "torch", "cuda", "neighbourhoods"}
    assert set(state["position_hashes"]) == {
        "layer1.0",
        "layer1.1",
        "layer2.0",
        "layer2.1",
        "layer3.0",
        "layer3.1",
        "layer4.0",
        "layer4.1",
    }
    assert (tmp_path / "finished.json").exists() and (tmp_path / "config.yaml").exists()
    # A file that would run code on loading is refused, not executed.
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as f:
        pickle.dump({"format": "stdann-checkpoint-1", "x": print}, f)
    with pytest.raises(CheckpointError, match=r"evil\.pt"):
        load_checkpoint(evil)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(result.checkpoint.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"truncated\.pt"):
        load_checkpoint(truncated)


def test_a_run_killed_while_writing_a_checkpoint_keeps_the_previous(corpus, tmp_path, monkeypatch):
    train(micro(corpus, "train.steps=2"), tmp_path, progress=False)
    real_save = torch.save

    def dying_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # as if the process were killed mid-write

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        train(micro(corpus, "train.steps=4"), tmp_path, progress=False)
    monkeypatch.setattr(torch, "save", real_save)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["step-000000002.pt"]  # no partial file, no half-written step 4
    assert load_checkpoint(tmp_path / "checkpoints" / names[0])["step"] == 2
    # And the run resumes from it.
    assert train(micro(corpus, "train.steps=4"), tmp_path, progress=False).step == 4


def nan_in_the_third_step(monkeypatch) -> dict[str, int]:
    """MoCo's loss made NaN in its third call; the count of calls, to reset."""
    real_forward = MoCo.forward
    calls = {"n": 0}

    def forward(self, *args, **kwargs):
        loss, stats = real_forward(self, *args, **kwargs)
        calls["n"] += 1
        return (loss * float("nan") if calls["n"] == 3 else loss), stats

    monkeypatch.setattr(MoCo, "forward", forward)
    return calls


def test_nan_loss_stops_with_the_last_good_checkpoint(corpus, tmp_path, monkeypatch):
    calls = nan_in_the_third_step(monkeypatch)
    with pytest.raises(NonFiniteLossError, match="step 3: the loss is nan"):
        train(micro(corpus, "train.steps=6"), tmp_path, progress=False)
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [2]
    assert not (tmp_path / "finished.json").exists()
    calls["n"] = 0
    code = stdann_main(
        [
            "train",
            "--config",
            str(CONFIGS / "tiny.yaml"),
            "--out",
            str(tmp_path / "cli"),
            "--no-progress",
            *[a for s in [*MICRO, f"data.root={corpus}", "train.steps=4"] for a in ("--set", s)],
        ]
    )
    assert code == 1


def test_a_nan_between_log_lines_is_caught_before_the_next_checkpoint(
    corpus, tmp_path, monkeypatch
):
    """The loss leaves the device only at a log line, a probe or a checkpoint: a
    NaN at step 3, with a log line every 5 steps, is found at step 4, before
    its probe and its checkpoint (neither is written), and named by its own step."""
    nan_in_the_third_step(monkeypatch)
    config = micro(corpus, "train.steps=6", "train.log_every=5")
    with pytest.raises(NonFiniteLossError, match=r"step 3: the loss is nan \(contrastive nan"):
        train(config, tmp_path, progress=False)
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [2]
    # The probes of steps 0 and 2 alone: no log line came due, no NaN was written.
    logged = (tmp_path / "metrics.jsonl").read_text()
    assert [json.loads(line)["step"] for line in logged.splitlines()] == [0, 2]
    assert "NaN" not in logged
    assert not (tmp_path / "finished.json").exists()


def test_bad_input_is_refused_before_the_first_step(corpus, tmp_path, capsys):
    with pytest.raises(TrainingError, match="no such folder"):
        train(micro(corpus, f"data.root={tmp_path / 'missing'}"), tmp_path / "r1", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingError, match="no video files"):
        train(micro(corpus, f"data.root={tmp_path / 'empty'}"), tmp_path / "r2", progress=False)
    broken = tmp_path / "broken"
    broken.mkdir()
    for i in range(8):
        (broken / f"v{i}.mp4").write_bytes(b"not a video at all")
    with pytest.raises(TrainingError, match=r"no usable (training data|probe clips)"):
        train(micro(corpus, f"data.root={broken}"), tmp_path / "r3", progress=False)
    with pytest.raises(TrainingError, match="not a multiple"):
        train(micro(corpus, "moco.queue=30"), tmp_path / "r4", progress=False)
    # Positions made for another clip size do not fit the model.
    other = tmp_path / "other-positions"
    assert (
        stdann_main(
            ["positions", "init", "--config", str(CONFIGS / "tiny.yaml"), "--out", str(other)]
        )
        == 0
    )
    with pytest.raises(TrainingError, match="positions"):
        train(micro(corpus), tmp_path / "r5", positions=other, progress=False)
    code = stdann_main(
        [
            "train",
            "--config",
            str(CONFIGS / "tiny.yaml"),
            "--set",
            "train.nope=1",
            "--out",
            str(tmp_path / "r6"),
        ]
    )
    assert code == 2
    assert "unknown key train.nope" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        micro(corpus, "moco.bn_groups=0")


def test_export_writes_the_backbone_as_safetensors(corpus, tmp_path):
    from safetensors.torch import load_file

    result = train(micro(corpus, "train.steps=2"), tmp_path / "run", progress=False)
    out = tmp_path / "model.safetensors"
    assert stdann_main(["export", str(tmp_path / "run"), "--out", str(out)]) == 0
    tensors = load_file(out)
    backbone = result.moco.query_encoder().backbone.state_dict()
    assert tensors.keys() == backbone.keys()
    for k, v in backbone.items():
        assert torch.equal(tensors[k], v), k


def test_channels_last_gives_the_same_training_within_rounding(corpus, tmp_path):
    plain = train(micro(corpus, "train.steps=2"), tmp_path / "a", progress=False)
    last = train(
        micro(corpus, "train.steps=2", "train.channels_last=true"), tmp_path / "b", progress=False
    )
    a, b = params(plain.moco), params(last.moco)
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-4), k


def test_tensorboard_gets_the_logged_numbers(corpus, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(micro(corpus, "train.steps=2", "train.tensorboard=true"), tmp_path, progress=False)
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss", "spatial_loss", "lr", "clips_per_s", "data_wait", "knn_same_video"} <= tags
    assert [e.step for e in events.Scalars("loss")] == [1, 2]


def test_labelled_probe_runs_every_probe_every_steps(tmp_path):
    import json as json_module

    from stdann.config import ConfigError

    root = tmp_path / "data"
    micro_corpus(root / "textures", count=8)
    (root / "lists").mkdir()
    (root / "lists" / "classInd.txt").write_text("1 even\n2 odd\n")
    lines = [f"textures/texture{i}.mp4 {i % 2 + 1}" for i in range(8)]
    (root / "lists" / "trainlist01.txt").write_text("\n".join(lines[:6]) + "\n")
    (root / "lists" / "testlist01.txt").write_text("\n".join(lines[6:]) + "\n")
    lists = ["train.probe_train_list=lists/trainlist01.txt"]
    lists += ["train.probe_test_list=lists/testlist01.txt"]
    train(micro(root, "train.steps=2", *lists), tmp_path / "run", progress=False)
    records = [
        json_module.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    probed = [r for r in records if "knn_top1" in r]
    # Step 0 and every train.probe_every = 2 steps, beside the instance probe.
    assert [r["step"] for r in probed] == [0, 2]
    assert all(r["knn_top1"] in (0.0, 0.5, 1.0) and r["knn_top1_chance"] == 0.5 for r in probed)
    assert all("knn_same_video" in r for r in probed)
    with pytest.raises(ConfigError, match="set both"):
        micro(root, lists[0])
    with pytest.raises(TrainingError, match="probe_test_list"):
        bad = [lists[0], "train.probe_test_list=lists/nope.txt"]
        train(micro(root, "train.steps=2", *bad), tmp_path / "run2", progress=False)
