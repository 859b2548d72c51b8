"""The run folder: --out checked before anything is loaded, and the environment it records."""

from __future__ import annotations

import json
import os

from cnnzoo.cli import main
from cnnzoo.env import HOST_KINDS, SPEED_FLAGS, environment, git_state, host_kind, parse_cpuinfo
from cnnzoo.train import TrainConfig, run

CPUINFO = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile
processor\t: 1
model name\t: another
"""


def one_line_error(argv: list[str], capsys) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_out_that_is_a_file_fails_before_training(tmp_path, capsys):
    somefile = tmp_path / "somefile"
    somefile.write_text("not a folder")
    err = one_line_error(["train", "lenet5", "--out", str(somefile)], capsys)
    assert f"run folder {somefile} is a file, not a folder; choose another --out" in err
    err = one_line_error(["train", "lenet5", "--out", str(somefile / "run")], capsys)
    assert f"run folder {somefile / 'run'} cannot be created: {somefile} is a file" in err


def test_out_in_a_folder_one_may_not_write_fails_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root may write anywhere
    err = one_line_error(["train", "lenet5", "--out", str(tmp_path / "a" / "run")], capsys)
    assert f"run folder {tmp_path / 'a' / 'run'} cannot be created in {tmp_path}" in err
    assert "(permission denied)" in err
    err = one_line_error(["train", "lenet5", "--out", str(tmp_path)], capsys)
    assert f"run folder {tmp_path} is not writable (permission denied)" in err
    assert not (tmp_path / "a").exists()


def test_cpuinfo_names_the_model_and_the_speed_flags():
    name, flags = parse_cpuinfo(CPUINFO)
    assert name == "Intel(R) Xeon(R) Platinum 8480+"
    assert flags == ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16"]
    assert parse_cpuinfo("") == (None, [])


def test_host_kind_is_named_by_the_strongest_matrix_flag():
    assert host_kind(parse_cpuinfo(CPUINFO)[1]) == "amx"
    assert host_kind(["avx2", "avx512f", "avx512_vnni", "avx512_bf16"]) == "avx512-bf16"
    assert host_kind(["avx2", "avx512f"]) == "avx512"
    assert host_kind(["avx2"]) == "avx2"
    assert host_kind([]) == "other"
    assert {flag for _, flag in HOST_KINDS} <= set(SPEED_FLAGS)  # each kind's flag is recorded


def test_git_state_outside_a_repository_is_unknown(tmp_path):
    assert git_state(None) == (None, None)
    assert git_state(tmp_path) == (None, None)


def test_environment_is_recorded_in_config_json(fake_mnist, tmp_path):
    env = environment("cpu")
    assert set(env) == {
        "device",
        "device_name",
        "cpu",
        "cpu_flags",
        "cores",
        "threads",
        "torch",
        "torchvision",
        "python",
        "commit",
        "dirty",
    }
    assert env["device"] == "cpu" and set(env["cpu_flags"]) <= set(SPEED_FLAGS)
    assert env["commit"] is None or len(env["commit"]) == 40
    out = tmp_path / "run"
    run(
        TrainConfig(
            "lenet5",
            dataset="mnist",
            data_dir=str(fake_mnist),
            epochs=1,
            batch_size=64,
            subset=128,
            out=str(out),
        )
    )
    saved = json.loads((out / "config.json").read_text())["environment"]
    assert saved == {**env, "threads": saved["threads"], "world_size": 1}


def test_two_runs_into_one_folder_the_second_gets_one_line(fake_mnist, tmp_path, capsys):
    import subprocess
    import time

    from trainutil import cli_env, train_command

    out = tmp_path / "run"
    first = subprocess.Popen(
        train_command(
            "lenet5",
            "--dataset",
            "mnist",
            "--data-dir",
            str(fake_mnist),
            "--epochs",
            "3",
            "--out",
            str(out),
        ),
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (out / "config.json").exists():  # written once the folder is locked
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
            time.sleep(0.05)
        err = one_line_error(
            [
                "train",
                "lenet5",
                "--dataset",
                "mnist",
                "--data-dir",
                str(fake_mnist),
                "--epochs",
                "1",
                "--out",
                str(out),
            ],
            capsys,
        )
        assert f"--out {out} is in use by cnnzoo train (pid {first.pid} on " in err
    finally:
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 3  # the first run's three epochs, nothing of the second


def test_a_new_run_into_a_folder_of_other_files_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    err = one_line_error(["train", "lenet5", "--out", str(tmp_path)], capsys)
    assert f"--out {tmp_path} holds files cnnzoo did not write (notes.txt)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_every_training_step_is_a_tensorboard_scalar(fake_mnist, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = run(
        TrainConfig(
            "lenet5",
            dataset="mnist",
            data_dir=str(fake_mnist),
            epochs=2,
            batch_size=64,
            out=str(tmp_path),
        )
    )
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    loss, lr = events.Scalars("train/loss_step"), events.Scalars("train/lr")
    steps = [e.step for e in loss]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 4  # every step of 2 epochs
    assert [e.step for e in lr] == steps
    assert lr[0].value != lr[-1].value  # the schedule moved it
    assert all(e.value == e.value and e.value > 0 for e in loss)  # finite, positive
    assert result["train_loss"] > 0
