"""``cnnzoo nas train`` and ``cnnzoo nas show``: a searched cell trains through the engine with
ScheduledDropPath and its checkpoint rebuilds; genotype files that are wrong get one line."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import pytest

from cnnzoo.checkpoint import load_checkpoint
from cnnzoo.cli import main
from cnnzoo.models.genotype import NASNET_A
from cnnzoo.source import open_source
from fakedata import write_fake_mnist


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def genotype_file(tmp_path):
    path = tmp_path / "cell.json"
    path.write_text(NASNET_A.to_json(indent=2))
    return path


def test_nas_train_stacks_the_cell_and_checkpoints_it(genotype_file, tmp_path):
    data = write_fake_mnist(tmp_path / "mnist", 256, 64)
    out = tmp_path / "run"
    code, _, err = cli(
        "nas",
        "train",
        str(genotype_file),
        "--num-cells",
        "1",
        "--filters",
        "4",
        "--dataset",
        "mnist",
        "--data-dir",
        str(data),
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--out",
        str(out),
    )
    assert code == 0, err
    ckpt = load_checkpoint(out / "best.pt")
    kwargs = ckpt["model_kwargs"]
    assert ckpt["model_name"] == "nasnet_cifar" and kwargs["num_cells"] == 1
    assert kwargs["penultimate_filters"] == 4 * 4 * NASNET_A.normal.units  # F * 2^2 * units
    assert kwargs["drop_path_prob"] == 0.2 and kwargs["genotype"] == NASNET_A.to_dict()
    model = open_source(str(out / "best.pt")).model  # rebuilt from the checkpoint alone
    assert model.genotype == NASNET_A


def test_nas_show_draws_both_cells(genotype_file, tmp_path):
    code, _, err = cli("nas", "show", str(genotype_file), "--out", str(tmp_path / "cells"))
    assert code == 0, err
    assert (tmp_path / "cells.png").stat().st_size > 10_000
    assert "sep 3x3" in (tmp_path / "cells.svg").read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        (
            json.dumps(
                {
                    **NASNET_A.to_dict(),
                    "normal": {
                        "blocks": [
                            {"inputs": [0, 1], "ops": ["conv_9x9", "identity"], "combine": "add"}
                        ]
                        * 5
                    },
                }
            ),
            "conv_9x9",
        ),
    ],
)
def test_bad_genotype_files_get_one_line(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    for verb in ("show", "train"):
        code, _, err = cli("nas", verb, str(path))
        assert code == 2 and err.count("\n") == 1 and message in err, err
        assert err.startswith(f"cnnzoo nas {verb}: error: ") and str(path) in err


def test_missing_genotype_file(tmp_path):
    code, _, err = cli("nas", "show", str(tmp_path / "none.json"))
    assert code == 2 and "none.json" in err and err.count("\n") == 1


@pytest.fixture
def front_file(tmp_path):
    """A pareto.json of two members: NASNet-A as trial 7 and a cell of no convolution as
    trial 2."""
    cell = {
        "blocks": [{"inputs": [0, 1], "ops": ["identity", "max_pool_3x3"], "combine": "add"}] * 5,
        "concat": None,
    }
    plain = {**NASNET_A.to_dict(), "normal": cell, "reduction": cell}
    path = tmp_path / "pareto.json"
    path.write_text(
        json.dumps(
            [
                {"number": 2, "score": 0.5, "macs": 1_000_000, "params": 10_000, "genotype": plain},
                {
                    "number": 7,
                    "score": 0.7,
                    "macs": 9_000_000,
                    "params": 90_000,
                    "genotype": NASNET_A.to_dict(),
                },
            ]
        )
    )
    return path


def test_a_pareto_member_is_taken_by_its_trial(front_file, tmp_path):
    code, out, err = cli("nas", "show", str(front_file), "--trial", "7")
    assert code == 0, err
    assert (tmp_path / "pareto-trial7.png").is_file() and "pareto-trial7.svg" in out
    assert "sep 3x3" in (tmp_path / "pareto-trial7.svg").read_text()
    code, _, err = cli("nas", "show", str(front_file), "--trial", "2")
    assert code == 0, err
    assert "sep " not in (tmp_path / "pareto-trial2.svg").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "is a Pareto front: give --trial (its trials: 2, 7)"),
        (["--trial", "3"], "is a Pareto front: it has no trial 3 (its trials: 2, 7)"),
    ],
)
def test_a_pareto_file_needs_one_of_its_trials(front_file, extra, message):
    for verb in ("show", "train"):
        code, _, err = cli("nas", verb, str(front_file), *extra)
        assert code == 2 and err.count("\n") == 1 and message in err, err


def test_trial_of_a_single_genotype_is_refused(genotype_file):
    code, _, err = cli("nas", "show", str(genotype_file), "--trial", "1")
    assert code == 2 and "--trial is for a pareto.json" in err and err.count("\n") == 1


def test_a_genotype_of_too_many_blocks_gets_one_line(tmp_path):
    from cnnzoo.models.genotype import MAX_BLOCKS, NUM_BLOCKS

    assert MAX_BLOCKS == 2 * NUM_BLOCKS == 10
    block = {"inputs": [0, 1], "ops": ["identity", "sep_conv_3x3"], "combine": "add"}
    cell = {"blocks": [block] * (MAX_BLOCKS + 1), "concat": None}
    path = tmp_path / "huge-cell.json"
    path.write_text(json.dumps({"normal": cell, "reduction": cell, "num_blocks": MAX_BLOCKS + 1}))
    code, _, err = cli("nas", "show", str(path))
    assert code == 2 and err.count("\n") == 1, err
    assert f"num_blocks must be 1 .. {MAX_BLOCKS}, got {MAX_BLOCKS + 1}" in err
    assert not (tmp_path / "huge-cell.png").exists()
    cell = {"blocks": [block] * MAX_BLOCKS, "concat": None}  # the largest allowed draws
    path.write_text(json.dumps({"normal": cell, "reduction": cell, "num_blocks": MAX_BLOCKS}))
    code, _, err = cli("nas", "show", str(path))
    assert code == 0, err


def test_a_huge_genotype_file_is_refused_unread(tmp_path, monkeypatch):
    import cnnzoo.models.genotype as genotype

    path = tmp_path / "huge.json"
    with path.open("w") as f:  # valid JSON, far larger than any genotype or pareto.json
        f.write('{"normal": "' + "x" * genotype.MAX_FILE_BYTES + '"}')

    def no_parsing(*args, **kwargs):
        raise AssertionError("a huge genotype file was parsed")

    monkeypatch.setattr(json, "loads", no_parsing)
    for verb in ("show", "train"):
        code, _, err = cli("nas", verb, str(path))
        assert code == 2 and err.count("\n") == 1, err
        assert err.startswith(
            f"cnnzoo nas {verb}: error: genotype file {str(path)!r}: larger "
            f"than {genotype.MAX_FILE_BYTES:,} bytes"
        )
