"""Checkpoints: tensors and plain data only, atomic writes, pickled objects refused."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from cnnzoo.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)

MINIMAL = {"model_name": "lenet5", "model_kwargs": {}, "dataset": {}, "model": {}}


class Payload:
    """An arbitrary Python object: unpickling it could run any code."""

    def __reduce__(self):
        return (os.getcwd, ())


def test_round_trip_and_no_temporary_left(tmp_path):
    state = {**MINIMAL, "model": {"w": torch.arange(4.0)}, "history": [{"epoch": 1, "x": 0.5}]}
    save_checkpoint(tmp_path / "last.pt", state)
    save_checkpoint(tmp_path / "last.pt", {**state, "step": 3})  # replaces the file whole
    loaded = load_checkpoint(tmp_path / "last.pt")
    assert torch.equal(loaded["model"]["w"], torch.arange(4.0)) and loaded["step"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_pickled_object_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "cnnzoo-checkpoint", "version": 1, **MINIMAL, "x": Payload()}, path)
    with pytest.raises(CheckpointError, match="refused: it carries pickled Python objects"):
        load_checkpoint(path)


def test_other_files_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"fc.weight": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a cnnzoo checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip file at all")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(tmp_path / "junk.pt")
    save_checkpoint(tmp_path / "partial.pt", {"model": {}})
    with pytest.raises(CheckpointError, match="lacks model_name"):
        load_checkpoint(tmp_path / "partial.pt")


def test_rng_states_survive_a_checkpoint(tmp_path):
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    save_checkpoint(tmp_path / "rng.pt", {**MINIMAL, "rng": rng_state()})
    expected = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0])
    assert np.array_equal(expected[1], again[1]) and expected[2] == again[2]
