"""The judgement of a variant against fp32: one output-difference rule for bench and export, top-1
agreement with its 99 % threshold, and ``export --verify`` refusing an int8 file that disagrees."""

from __future__ import annotations

import math

import pytest
import torch

import cnnzoo.export.command as command
from cnnzoo.export.command import ExportConfig, differences, export_model
from cnnzoo.export.judge import (
    MIN_AGREEMENT,
    Disagrees,
    agreement,
    disagreement_reason,
    eval_batches,
    output_difference,
    top1,
)


def test_output_difference_and_its_zero_scale_rule():
    ref = torch.tensor([[1.0, -4.0, 2.0]])
    assert output_difference(ref + 0.5, ref) == (0.5, 0.125)
    zero = torch.zeros(1, 3)
    assert output_difference(zero, zero) == (0.0, 0.0)
    assert output_difference(zero + 1, zero) == (1.0, math.inf)  # all-zero reference, output not


def test_bench_and_export_share_the_rule():
    import cnnzoo.bench.core as core

    assert core.output_difference is output_difference
    zero = torch.zeros(2, 3)
    check = differences(zero + 1, zero)  # export used to report 1.0 here, bench inf
    assert check["max_rel_diff"] == math.inf and check["max_abs_diff"] == 1.0


def test_agreement_threshold_is_inclusive():
    labels = torch.arange(100) % 10
    ref = labels.clone()
    ours = ref.clone()
    ours[:1] = (ours[:1] + 1) % 10  # 99 of 100 agree
    judged = agreement(ours, ref, labels)
    assert judged == {
        "images": 100,
        "agreement": 0.99,
        "top1": 0.99,
        "top1_fp32": 1.0,
        "agrees": True,
    }
    ours[:2] = (ref[:2] + 1) % 10  # 98 of 100
    judged = agreement(ours, ref, labels)
    assert judged["agrees"] is False and MIN_AGREEMENT == 0.99
    assert disagreement_reason(judged) == (
        "top-1 is fp32's on 98.00% of 100 test images (needs >= 99%)"
    )
    with pytest.raises(ValueError, match="non-empty"):
        agreement(ours[:0], ref[:0], labels[:0])


def test_top1_runs_whole_pieces_of_a_static_batch():
    calls = []

    def run(x):
        calls.append(x.shape[0])
        return x.flatten(1)

    images = torch.eye(4)[torch.tensor([0, 1, 2, 3, 0, 1, 2])].view(7, 4, 1, 1)
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2])
    (pred,), kept = top1([run], [(images[:4], labels[:4]), (images[4:], labels[4:])], batch=2)
    assert calls == [2, 2, 2] and torch.equal(pred, kept) and len(kept) == 6  # one image left out


def test_eval_batches_limit(lenet5_checkpoint, fake_mnist):
    record = torch.load(lenet5_checkpoint, weights_only=True)["dataset"]
    total, batches = eval_batches(
        record, data_dir=str(fake_mnist), input_size=32, batch_size=64, limit=150
    )
    sizes = [len(labels) for _, labels in batches]
    assert total == 150 and sizes == [64, 64, 22]


def test_verify_refuses_an_int8_file_that_disagrees(lenet5_checkpoint, tmp_path, monkeypatch):
    real = command.file_runner

    def wrong(path, fmt, batch):
        run = real(path, fmt, batch)
        return lambda x: -run(x)  # every prediction becomes fp32's least likely class

    monkeypatch.setattr(command, "file_runner", wrong)
    out = tmp_path / "bad-int8.onnx"
    config = ExportConfig(str(lenet5_checkpoint), quantize="int8", verify=True, out=str(out))
    with pytest.raises(
        Disagrees,
        match=r"bad-int8.onnx \(int8 onnx\) disagrees with fp32 "
        r"PyTorch: top-1 is fp32's on 0.00% of 200 test images",
    ):
        export_model(config)
    assert not out.exists()


def test_int8_of_a_model_name_says_it_is_not_judged():
    check = {
        "batch_size": 1,
        "max_abs_diff": 0.1,
        "max_rel_diff": 0.02,
        "max_logit": 5.0,
        "argmax_agree": 1.0,
    }
    result = {
        "file": "m-int8.onnx",
        "bytes": 2**20,
        "format": "onnx",
        "precision": "int8",
        "model": "lenet5",
        "input": [1, 32, 32],
        "dynamic_batch": False,
        "export_s": 1.0,
        "runtime": "ONNX Runtime",
        "verify": [check],
    }
    lines = command.summary_lines(result)
    assert lines[-1].startswith("int8 not judged: agreement with fp32 is judged on the test images")
    result["accuracy"] = {
        "dataset": "mnist",
        "count": 200,
        "top1_file": 0.9,
        "top1_fp32": 0.9,
        "agree": 0.995,
        "agrees": True,
    }
    assert command.summary_lines(result)[-1].endswith(
        "same prediction on 99.50% (needs >= 99%: agrees)"
    )
