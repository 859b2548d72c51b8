"""``cnnzoo embed``'s folders are published whole: an interrupt at any point leaves the previous
map as it was and usable by ``--add-to``; a damaged or tampered map folder gets one line."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from test_embed import cli

from cnnzoo import outdir
from cnnzoo.embed import command, figures
from cnnzoo.embed.command import (
    SUMMARY,
    SUMMARY_KEYS,
    EmbedConfig,
    embed,
    read_map,
    read_summary,
)
from cnnzoo.interrupt import Interrupted
from outdirutil import files_of, signal_while_staged


def stop_at(monkeypatch, module, name: str) -> None:
    def stopping(*args, **kwargs):
        raise Interrupted(signal.SIGTERM, "stopped by SIGTERM")

    monkeypatch.setattr(module, name, stopping)


@pytest.fixture(scope="module")
def small_map(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small") / "map"
    embed(EmbedConfig("lenet5", n=300, perplexity=10, out=str(out)))
    return out


@pytest.mark.parametrize(
    "where",
    [
        (command, "fit_map"),
        (figures, "save_grid"),
        (command, "write_text_atomic"),
        (outdir, "publish"),
    ],
    ids=["t-SNE", "figures", "summary", "swap"],
)
def test_an_interrupt_at_any_point_leaves_the_previous_map_usable(
    small_map, tmp_path, monkeypatch, where
):
    folder = tmp_path / "map"
    shutil.copytree(small_map, folder)
    before = files_of(folder)
    with monkeypatch.context() as patch:
        stop_at(patch, *where)
        with pytest.raises(Interrupted):
            embed(EmbedConfig("lenet5", n=400, seed=1, perplexity=10, out=str(folder)))
    assert files_of(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map"]  # no staging, no lock
    summary, arrays = read_map(folder)  # whole: summary and arrays of one map
    assert summary["n"] == 300 == len(arrays["features"])
    result = embed(EmbedConfig("lenet5", n=50, add_to=str(folder), split="train"))
    assert result["n"] == 50


def test_an_interrupted_add_to_leaves_the_map_and_no_half_added_folder(
    small_map, tmp_path, monkeypatch
):
    folder = tmp_path / "map"
    shutil.copytree(small_map, folder)
    before = files_of(folder)
    with monkeypatch.context() as patch:
        stop_at(patch, figures, "save_added")
        with pytest.raises(Interrupted):
            embed(EmbedConfig("lenet5", n=50, add_to=str(folder), split="train"))
    assert files_of(folder) == before and not (folder / "added-train").exists()


def damage(folder: Path, how: str) -> str:
    """Damage ``folder``'s map one way; the message expected."""
    path = folder / "features.npy"
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
        return "features.npy is damaged: its header promises"
    if how == "huge header":  # promises 2**40 floats in a file of a few bytes
        header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }"
        path.write_bytes(
            b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\n"
        )
        return "features.npy is damaged: its header promises 4,398,046,511,104 bytes"
    if how == "not npy":
        path.write_text("hello")
        return "features.npy is not an .npy array"
    if how == "objects":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        return "features.npy holds Python objects"
    if how == "mismatch":
        np.save(folder / "embedding.npy", np.zeros((3, 2), dtype=np.float32))
        return "its arrays do not belong together"
    if how == "summary key":
        summary = json.loads((folder / "summary.json").read_text())
        del summary["seed"]
        (folder / "summary.json").write_text(json.dumps(summary))
        return f"{folder}: summary.json lacks 'seed'"
    (folder / "summary.json").write_bytes(b"\xff\xfe not json")
    return "cannot read its summary.json"


@pytest.mark.parametrize(
    "how",
    ["truncated", "huge header", "not npy", "objects", "mismatch", "summary", "summary key"],
)
def test_a_damaged_map_gets_one_line(small_map, tmp_path, how):
    folder = tmp_path / "map"
    shutil.copytree(small_map, folder)
    expected = damage(folder, how)
    code, _, stderr = cli(
        "embed", "lenet5", "--add-to", str(folder), "--split", "train", "--n", "20"
    )
    assert code == 2 and stderr.count("\n") == 1 and expected in stderr, stderr


def test_the_summary_holds_what_its_reader_asks_for(small_map):
    summary = read_summary((small_map / SUMMARY).read_text())
    assert tuple(summary) == SUMMARY_KEYS
    for text, message in [
        ("[1]", "summary.json is not a JSON object"),
        ('{"n": 3}', "summary.json lacks 'source', 'model', "),
        ("{", "summary.json is not readable JSON ("),
    ]:
        with pytest.raises(ValueError) as refused:
            read_summary(text)
        assert str(refused.value).startswith(message)


def test_a_map_array_linked_out_of_the_folder_is_refused(small_map, tmp_path):
    folder = tmp_path / "map"
    shutil.copytree(small_map, folder)
    outside = tmp_path / "elsewhere.npy"
    shutil.move(folder / "labels.npy", outside)
    (folder / "labels.npy").symlink_to(outside)
    code, _, stderr = cli(
        "embed", "lenet5", "--add-to", str(folder), "--n", "20", "--split", "train"
    )
    assert code == 2 and stderr.count("\n") == 1 and "labels.npy" in stderr, stderr


def test_two_embeds_into_one_folder_the_second_gets_one_line(small_map, tmp_path):
    folder = tmp_path / "map"
    with outdir.owned(folder, "embed"):  # another embed holds it
        code, _, stderr = cli("embed", "lenet5", "--n", "100", "--out", str(folder))
    assert code == 2 and stderr.count("\n") == 1
    assert f"--out {folder} is in use by cnnzoo embed (pid" in stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_command_is_one_line_and_keeps_the_old_map(small_map, tmp_path, signum):
    folder = tmp_path / "map"
    shutil.copytree(small_map, folder)
    before = files_of(folder)
    code, err = signal_while_staged(
        ["embed", "lenet5", "--n", "1500", "--out", str(folder)], folder, signum
    )
    assert code == 128 + signum, err
    assert err.splitlines() == [
        f"cnnzoo embed: stopped by {signal.Signals(signum).name}; the "
        "map folder is as it was before this command; run it again to "
        "make it"
    ]
    assert files_of(folder) == before
    assert json.loads((folder / "summary.json").read_text())["n"] == 300
