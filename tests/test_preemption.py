"""Stop signals, clock checkpoints and damaged checkpoints: a run that survives its cluster.

Every signal is sent by the run to itself at a known step (`signalling`), so
the step it stops at is known; a stopped and resumed run must end with the
same bits as one that was never stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stdann.cli import main as stdann_main
from stdann.config import ConfigError, load_config
from stdann.train import loop, train
from stdann.train.checkpoint import (
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    load_newest_checkpoint,
    newest_readable_checkpoint,
    save_checkpoint,
)
from stdann.train.signals import EXIT_STOPPED, STOPPED_MARKER, Stopped, StopSignals
from train_fixtures import CONFIGS, MICRO, micro_corpus, signalling

TESTS = Path(__file__).parent


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return micro_corpus(tmp_path_factory.mktemp("micro"))


def micro(corpus, *extra: str):
    return load_config(CONFIGS / "tiny.yaml", [*MICRO, f"data.root={corpus}", *extra])


@pytest.fixture(scope="module")
def straight(corpus, tmp_path_factory):
    """Six steps that nothing stopped (checkpoints at 2, 4 and 6)."""
    out = tmp_path_factory.mktemp("straight")
    train(micro(corpus, "train.steps=6"), out, progress=False)
    return out


def assert_same_end(a: Path, b: Path, step: int = 6) -> None:
    """The checkpoints of `step` in two run folders hold the same bits."""
    x = load_checkpoint(a / "checkpoints" / f"step-{step:09d}.pt")
    y = load_checkpoint(b / "checkpoints" / f"step-{step:09d}.pt")
    for part in ("encoder_q", "encoder_k"):
        for k, v in x["moco"][part].items():
            assert torch.equal(v, y["moco"][part][k]), (part, k)
    for k in ("queue", "queue_videos", "queue_ptr"):
        assert torch.equal(x["moco"][k], y["moco"][k]), k
    assert x["optimizer"]["state"].keys() == y["optimizer"]["state"].keys()
    for i, s in x["optimizer"]["state"].items():
        assert torch.equal(s["momentum_buffer"], y["optimizer"]["state"][i]["momentum_buffer"])


def test_sigterm_mid_run_checkpoints_its_step_and_the_resume_is_bit_identical(
    corpus, straight, tmp_path, monkeypatch
):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)}
    monkeypatch.setattr(loop, "clips_to_input", signalling(loop.clips_to_input, 3, signal.SIGTERM))
    with pytest.raises(Stopped) as stopped:
        train(micro(corpus, "train.steps=6"), tmp_path, progress=False)
    monkeypatch.undo()
    assert stopped.value.step == 3 and stopped.value.signum == signal.SIGTERM
    assert stopped.value.checkpoint == tmp_path / "checkpoints" / "step-000000003.pt"
    assert "SIGTERM: stopped after step 3" in str(stopped.value)
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [2, 3]
    assert not (tmp_path / "finished.json").exists()
    # The handlers from before are back: the run left no trace in the process.
    assert {s: signal.getsignal(s) for s in before} == before
    assert train(micro(corpus, "train.steps=6"), tmp_path, progress=False).step == 6
    assert_same_end(straight, tmp_path)
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics if "loss" in m] == [1, 2, 3, 4, 5, 6]


def test_sigusr1_through_the_command_exits_75_with_a_marker(corpus, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(loop, "clips_to_input", signalling(loop.clips_to_input, 2, signal.SIGUSR1))
    args = ["train", "--config", str(CONFIGS / "tiny.yaml"), "--out", str(tmp_path)]
    args += ["--no-progress", *[a for s in [*MICRO, f"data.root={corpus}"] for a in ("--set", s)]]
    assert stdann_main([*args, "--set", "train.steps=4"]) == EXIT_STOPPED
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert f"stdann train: SIGUSR1: stopped after step 2 with checkpoint '{tmp_path}" in err
    assert "Traceback" not in err
    marker = json.loads((tmp_path / STOPPED_MARKER).read_text())
    assert marker == {
        "signal": "SIGUSR1",
        "step": 2,
        "checkpoint": str(tmp_path / "checkpoints" / "step-000000002.pt"),
        "exit_status": EXIT_STOPPED,
    }
    # The rerun resumes, finishes and takes the marker away.
    assert stdann_main([*args, "--set", "train.steps=4"]) == 0
    assert not (tmp_path / STOPPED_MARKER).exists()
    assert (tmp_path / "finished.json").exists()


def test_ctrl_c_in_a_real_process_exits_75_without_a_traceback(corpus, tmp_path):
    """SIGINT, as Ctrl-C sends it, to a `stdann train` process of its own."""
    sets = [a for s in [*MICRO, f"data.root={corpus}", "train.steps=4"] for a in ("--set", s)]
    code = f"""
import signal, sys
sys.path.insert(0, {str(TESTS)!r})
from train_fixtures import signalling
from stdann.train import loop
loop.clips_to_input = signalling(loop.clips_to_input, 1, signal.SIGINT)
from stdann.cli import main
sys.exit(main({["train", "--config", str(CONFIGS / "tiny.yaml"), "--out", str(tmp_path), "--no-progress", *sets]!r}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == EXIT_STOPPED, result.stderr
    assert "SIGINT: stopped after step 1" in result.stderr
    assert "KeyboardInterrupt" not in result.stderr and "Traceback" not in result.stderr
    assert load_checkpoint(tmp_path / "checkpoints" / "step-000000001.pt")["step"] == 1


def test_a_second_signal_during_the_checkpoint_write_changes_nothing(
    corpus, straight, tmp_path, monkeypatch
):
    real_save = torch.save

    def interrupted_save(obj, f, *args, **kwargs):
        # A second and a third signal while the checkpoint is being written, as
        # torchrun passing on the scheduler's signal would send them.
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(loop, "clips_to_input", signalling(loop.clips_to_input, 2, signal.SIGTERM))
    monkeypatch.setattr(torch, "save", interrupted_save)
    with pytest.raises(Stopped) as stopped:
        train(micro(corpus, "train.steps=6"), tmp_path, progress=False)
    monkeypatch.undo()
    assert stopped.value.step == 2 and stopped.value.signum == signal.SIGTERM
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-000000002.pt"]
    # The checkpoint is whole: the very one the run that was never stopped wrote.
    assert_same_end(straight, tmp_path, step=2)


def test_a_signal_in_the_last_step_goes_to_the_caller_after_the_run_is_finished(
    corpus, tmp_path, monkeypatch
):
    """The recipe must not begin its next stage after a signal that came too late
    to stop the stage: the outer handler gets it once the stage is finished."""
    monkeypatch.setattr(loop, "clips_to_input", signalling(loop.clips_to_input, 2, signal.SIGTERM))
    with StopSignals(deferred=False), pytest.raises(Stopped) as stopped:
        train(micro(corpus, "train.steps=2"), tmp_path, progress=False)
    assert stopped.value.signum == signal.SIGTERM and stopped.value.checkpoint is None
    assert json.loads((tmp_path / "finished.json").read_text())["step"] == 2


def test_stop_signals_note_once_and_restore_what_was_there(capfd):
    before = signal.getsignal(signal.SIGUSR1)
    with StopSignals(deferred=True) as stop:
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.received == signal.SIGUSR1
    assert signal.getsignal(signal.SIGUSR1) == before
    err = capfd.readouterr().err
    assert "SIGUSR1: stopping after this step" in err and "SIGTERM again" in err
    with pytest.raises(Stopped) as stopped, StopSignals(deferred=False):
        os.kill(os.getpid(), signal.SIGUSR1)
    assert str(stopped.value) == "SIGUSR1: stopped; run the same command again to go on"


def test_the_clock_checkpoints_beside_the_step_count(corpus, tmp_path):
    # A minute's millionth: every step is due; the step count alone gives only the end.
    fast = ["train.steps=3", "train.checkpoint_every=100", "train.probe_every=0"]
    train(
        micro(corpus, *fast, "train.checkpoint_every_minutes=0.000001"),
        tmp_path / "a",
        progress=False,
    )
    assert [s for s, _ in list_checkpoints(tmp_path / "a" / "checkpoints")] == [1, 2, 3]
    train(micro(corpus, *fast, "train.checkpoint_every_minutes=0"), tmp_path / "b", progress=False)
    assert [s for s, _ in list_checkpoints(tmp_path / "b" / "checkpoints")] == [3]
    with pytest.raises(ConfigError, match="checkpoint_every_minutes must be >= 0"):
        micro(corpus, "train.checkpoint_every_minutes=-1")


def test_a_truncated_newest_checkpoint_is_skipped_and_left_in_place(
    corpus, straight, tmp_path, caplog
):
    train(micro(corpus, "train.steps=6"), tmp_path, progress=False, stop_at=4)
    newest = tmp_path / "checkpoints" / "step-000000004.pt"
    newest.write_bytes(newest.read_bytes()[:1000])  # as a failed copy leaves it
    damaged = newest.read_bytes()
    result = train(micro(corpus, "train.steps=6"), tmp_path, progress=False, stop_at=3)
    assert result.step == 3
    skipped = [r.getMessage() for r in caplog.records if r.name == "stdann.checkpoint"]
    assert any("step-000000004.pt': not a readable checkpoint" in m for m in skipped)
    assert any("resuming from" in m and "step-000000002.pt" in m for m in skipped)
    assert newest.read_bytes() == damaged  # left where it is, as it is
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [2, 3, 4]
    assert newest_readable_checkpoint(tmp_path / "checkpoints").name == "step-000000003.pt"
    # The run goes on to the end, replacing the damaged file on its way.
    assert train(micro(corpus, "train.steps=6"), tmp_path, progress=False).step == 6
    assert_same_end(straight, tmp_path)


def test_only_no_readable_checkpoint_at_all_is_an_error(tmp_path):
    folder = tmp_path / "checkpoints"
    assert load_newest_checkpoint(folder) == (None, None)
    assert newest_readable_checkpoint(folder) is None
    folder.mkdir()
    for step in (2, 4):
        (folder / f"step-{step:09d}.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match="none of its 2 checkpoints is readable"):
        load_newest_checkpoint(folder)
    assert newest_readable_checkpoint(folder) is None


def test_pruning_keeps_good_checkpoints_beside_a_damaged_later_one(tmp_path):
    """With keep 1, the damaged step-6 file a resume skipped must not count as
    the one kept: the checkpoint just written would go with the older ones."""
    folder = tmp_path / "checkpoints"
    state = {"step": 0, "weights": torch.zeros(3)}
    save_checkpoint(folder, 2, state, keep=1)
    (folder / "step-000000006.pt").write_bytes(b"damaged")
    save_checkpoint(folder, 4, state, keep=1)
    assert [s for s, _ in list_checkpoints(folder)] == [4, 6]
    save_checkpoint(folder, 6, state, keep=1)  # the damaged file, replaced
    assert [s for s, _ in list_checkpoints(folder)] == [6]
    assert load_checkpoint(folder / "step-000000006.pt")["step"] == 0
