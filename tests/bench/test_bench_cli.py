import json

import pytest
import torch

from cnnzoo.bench import runtimes
from cnnzoo.bench.render import fastest_line, from_json, render_table, to_json
from cnnzoo.cli import main

TINY = [
    "bench",
    "lenet5",
    "--runtime",
    "eager,fold",
    "--precision",
    "fp32,bf16",
    "--rounds",
    "2",
    "--threads",
    "1",
]


@pytest.fixture(scope="module")
def tiny_record(tmp_path_factory):
    """One real run: lenet5, eager + fold, fp32 + bf16, batch 1, 2 rounds, written as JSON."""
    path = tmp_path_factory.mktemp("bench") / "tiny.json"
    assert main([*TINY, "--format", "json", "--out", str(path)]) == 0
    return json.loads(path.read_text())


def test_tiny_run_end_to_end(tiny_record):
    record = tiny_record
    assert record["schema"] == "cnnzoo-bench" and record["version"] == 1
    assert record["settings"]["rounds"] == 2 and record["settings"]["threads"] == 1
    assert "cpu_flags" in record["environment"] and "onnxruntime" in record["environment"]
    keyed = {(r["runtime"], r["precision"]): r for r in record["results"]}
    assert set(keyed) == {("eager", "fp32"), ("eager", "bf16"), ("fold", "fp32"), ("fold", "bf16")}
    for r in record["results"]:
        assert r["status"] == "ok" and r["input"] == [1, 32, 32] and r["batch_size"] == 1
        lat = r["latency_ms"]
        assert 0 < lat["min"] <= lat["median"] <= lat["max"] and lat["iqr"] >= 0
        assert r["images_per_s"] == pytest.approx(1e3 / lat["median"])
    assert keyed["eager", "fp32"]["speedup"] == 1.0 and keyed["eager", "fp32"]["max_abs_diff"] == 0
    assert keyed["fold", "fp32"]["exact"] is True and keyed["fold", "bf16"]["exact"] is False
    assert keyed["eager", "bf16"]["emulated"] == (
        not {"avx512_bf16", "amx_bf16"} & set(record["environment"]["cpu_flags"])
    )
    (summary,) = record["summary"]
    assert summary["fastest_exact"]["precision"] == "fp32"


def test_json_round_trip_and_table_last_line(tiny_record):
    assert from_json(to_json(tiny_record)) == tiny_record
    with pytest.raises(ValueError, match="cnnzoo-bench"):
        from_json('{"schema": "other"}')
    table = render_table(tiny_record)
    last = table.splitlines()[-1]
    assert last == fastest_line(tiny_record["summary"][0])
    assert last.startswith("lenet5 b1: fastest exact ") and "; fastest overall " in last
    assert last.endswith("x")


def test_fastest_line_wording():
    row = {
        "model": "resnet50",
        "batch_size": 1,
        "mode": "infer",
        "fastest_exact": {"runtime": "onnxruntime", "precision": "fp32", "speedup": 1.62},
        "fastest": {"runtime": "onnxruntime", "precision": "int8", "speedup": 4.3},
    }
    assert fastest_line(row) == (
        "resnet50 b1: fastest exact onnxruntime fp32 1.62x; fastest overall onnxruntime int8 4.30x"
    )


def test_fastest_line_names_each_reduced_precision():
    row = {
        "model": "resnet50",
        "batch_size": 1,
        "mode": "train",
        "fastest_exact": {"runtime": "onnxruntime", "precision": "fp32", "speedup": 1.92},
        "fastest_by_precision": {
            "bf16": {"runtime": "compile", "precision": "bf16", "speedup": 1.68},
            "int8": None,
        },
        "fastest": {"runtime": "onnxruntime", "precision": "fp32", "speedup": 1.92},
    }
    assert fastest_line(row) == (
        "resnet50 b1 train: fastest exact onnxruntime fp32 1.92x; fastest bf16 compile 1.68x; "
        "fastest int8 none; fastest overall onnxruntime fp32 1.92x"
    )


def test_csv_has_one_row_per_result(capsys):
    assert (
        main(["bench", "lenet5", "--runtime", "eager,fold", "--rounds", "1", "--format", "csv"])
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("model,runtime,precision,batch_size")
    assert len(lines) == 3


def test_train_mode_skips_inference_only_runtimes(capsys):
    assert (
        main(
            [
                "bench",
                "lenet5",
                "--runtime",
                "eager,fold,onnxruntime",
                "--mode",
                "train",
                "--rounds",
                "1",
                "--batch-size",
                "4",
                "--format",
                "json",
            ]
        )
        == 0
    )
    results = {r["runtime"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert results["eager"]["status"] == "ok" and results["eager"]["mode"] == "train"
    assert results["fold"]["status"] == "skipped" and "inference-only" in results["fold"]["reason"]
    assert results["onnxruntime"]["status"] == "skipped"


def one_error_line(capsys, argv) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in err and captured.out == ""
    assert err.startswith("cnnzoo bench: error: ")
    return err


def test_bad_input_is_one_line(capsys, tmp_path, monkeypatch):
    err = one_error_line(capsys, ["bench", "lenet5", "--runtime", "eager,tensorrt"])
    assert "'tensorrt'" in err and "eager, fold, compile, onnxruntime, executorch" in err
    err = one_error_line(capsys, ["bench", "lenet5", "--precision", "fp8"])
    assert "'fp8'" in err and "fp32, bf16, int8" in err
    assert "--input" in one_error_line(capsys, ["bench", "lenet5", "--input", "3,x"])
    assert "--input" in one_error_line(capsys, ["bench", "lenet5", "--input", "1,32"])
    assert "3x16x16" in one_error_line(capsys, ["bench", "vgg16", "--input", "3,16,16"])
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    assert "broken.pt" in one_error_line(capsys, ["bench", str(bad)])
    assert "unknown model" in one_error_line(capsys, ["bench", "resnet51"])
    assert "unknown mode 'fly'" in one_error_line(capsys, ["bench", "lenet5", "--mode", "fly"])
    monkeypatch.setitem(runtimes.RUNTIME_PACKAGES, "onnxruntime", ("no_such_package_xyz",))
    err = one_error_line(capsys, ["bench", "lenet5", "--runtime", "onnxruntime"])
    assert "'no_such_package_xyz'" in err and "pip install 'cnnzoo[export]'" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without a GPU")
def test_cuda_without_a_gpu_is_one_line(capsys):
    err = one_error_line(capsys, ["bench", "lenet5", "--device", "cuda"])
    assert "CUDA is not available" in err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_run(capsys):
    argv = [
        "bench",
        "lenet5",
        "--device",
        "cuda",
        "--runtime",
        "eager,fold,onnxruntime",
        "--precision",
        "fp32,bf16,fp16",
        "--rounds",
        "2",
        "--format",
        "json",
    ]
    assert main(argv) == 0
    record = json.loads(capsys.readouterr().out)
    keyed = {(r["runtime"], r["precision"]): r for r in record["results"]}
    assert keyed["eager", "fp16"]["status"] == "ok"
    assert keyed["onnxruntime", "fp32"]["status"] == "skipped"
    assert record["environment"]["device"] == "cuda"


@pytest.mark.slow
def test_compile_runtimes(capsys):
    """torch.compile fp32 and bf16, and PT2E int8 through inductor, on lenet5 (compiles: slow)."""
    argv = [
        "bench",
        "lenet5",
        "--runtime",
        "compile",
        "--precision",
        "fp32,bf16,int8",
        "--rounds",
        "2",
        "--format",
        "json",
    ]
    assert main(argv) == 0
    results = {
        r["precision"]: r
        for r in json.loads(capsys.readouterr().out)["results"]
        if r["runtime"] == "compile"
    }
    assert results["fp32"]["status"] == results["bf16"]["status"] == "ok", results
    assert results["int8"]["status"] == "unjudged" and results["int8"]["latency_ms"], results
    assert results["fp32"]["exact"] is True and results["fp32"]["prepare_s"] > 0
    assert results["int8"]["max_rel_diff"] < 0.5


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["onnxruntime", "executorch"])
def test_exporting_runtimes(capsys, runtime):
    """fp32 through the export modules is exact; int8 runs; bf16 is skipped with a reason."""
    argv = [
        "bench",
        "lenet5",
        "--runtime",
        runtime,
        "--precision",
        "fp32,bf16,int8",
        "--rounds",
        "2",
        "--threads",
        "1",
        "--format",
        "json",
    ]
    assert main(argv) == 0
    results = {
        r["precision"]: r
        for r in json.loads(capsys.readouterr().out)["results"]
        if r["runtime"] == runtime
    }
    assert results["fp32"]["status"] == "ok" and results["fp32"]["exact"] is True, results
    assert results["int8"]["status"] == "unjudged" and results["int8"]["latency_ms"], results
    assert "random inputs" in results["int8"]["note"]
    assert "judged on a checkpoint's test images" in results["int8"]["reason"]
    assert results["bf16"]["status"] == "skipped" and results["bf16"]["reason"]


def test_spin_warning():
    from cnnzoo.bench.core import spin_warning

    assert "OMP_WAIT_POLICY=PASSIVE" in spin_warning(("eager", "onnxruntime"), None)
    assert spin_warning(("eager", "onnxruntime"), "passive") is None
    assert spin_warning(("eager", "fold"), None) is None
    assert spin_warning(("executorch",), None) is None


def checkpoint_run(checkpoint, capsys, runtime: str, precision: str) -> dict:
    argv = [
        "bench",
        str(checkpoint),
        "--runtime",
        runtime,
        "--precision",
        precision,
        "--rounds",
        "1",
        "--threads",
        "1",
        "--format",
        "json",
    ]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_checkpoint_int8_is_judged_on_test_images(lenet5_checkpoint, capsys):
    record = checkpoint_run(lenet5_checkpoint, capsys, "onnxruntime", "int8")
    keyed = {(r["runtime"], r["precision"]): r for r in record["results"]}
    int8 = keyed["onnxruntime", "int8"]
    assert int8["judged_images"] == 200 and int8["agreement"] >= 0.99, int8
    assert int8["status"] == "ok" and int8["latency_ms"] and "random" not in int8["note"]
    assert int8["top1"] > 0.5 and int8["top1_fp32"] > 0.5
    assert int8["max_rel_diff"] < 0.2  # compared on a real test image, not on noise
    fp32 = keyed["eager", "fp32"]
    assert fp32["exact"] and fp32["agreement"] is None  # exact variants need no judgement
    assert "agree: share of the checkpoint's first 200 test images" in render_table(record)


def test_a_variant_that_disagrees_is_not_timed_nor_fastest(lenet5_checkpoint, capsys, monkeypatch):
    """A runtime whose int8 predicts the opposite of fp32 (as mobilenet_v1's all-zero PT2E int8
    did): ``disagrees``, with the agreement measured, no latency, never the fastest."""
    real = runtimes.RUNTIMES["onnxruntime"]

    def wrong(*args, **kwargs):
        made = real(*args, **kwargs)
        return runtimes.Variant(lambda x: -made.run(x), made.prepare_s, made.note)

    monkeypatch.setitem(runtimes.RUNTIMES, "onnxruntime", wrong)
    record = checkpoint_run(lenet5_checkpoint, capsys, "onnxruntime", "int8")
    for r in record["results"]:
        if r["runtime"] == "onnxruntime":
            assert r["status"] == "disagrees" and r["latency_ms"] is None and r["speedup"] is None
            assert r["agreement"] < 0.5 and "test images (needs >= 99%)" in r["reason"]
    (summary,) = record["summary"]
    assert summary["fastest"]["runtime"] == "eager"
    assert "onnxruntime int8 b1 disagrees: top-1 is fp32's on" in render_table(record)


def test_random_init_int8_is_unjudged_or_refused(capsys):
    """mobilenet_v1 with random weights: its logits vanish (3e-19 at 32 x 32), so PT2E int8 is
    refused before any export; random weights' int8 elsewhere is timed but never the fastest."""
    argv = [
        "bench",
        "mobilenet_v1",
        "--input",
        "3,32,32",
        "--runtime",
        "executorch,compile",
        "--precision",
        "int8",
        "--rounds",
        "1",
        "--format",
        "json",
    ]
    assert main(argv) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    refused = [r for r in results if r["precision"] == "int8"]
    assert [r["status"] for r in refused] == ["refused", "refused"]
    assert all("activations vanish" in r["reason"] and r["prepare_s"] is None for r in refused)


def test_published_weights_are_benchmarked_as_loaded(capsys, tmp_path):
    """``MODEL --weights W``: the file's weights are timed (their outputs are the reference)."""
    from cnnzoo.source import open_source

    model = open_source("resnet20", seed=7).model
    torch.save(model.state_dict(), tmp_path / "r20.pth")
    argv = ["bench", "resnet20", "--weights", str(tmp_path / "r20.pth"), "--rounds", "1"]
    assert main([*argv, "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)["results"][0]
    assert record["model"] == "resnet20" and record["status"] == "ok" and record["exact"]
    assert main(["bench", "resnet20", "lenet5", "--weights", str(tmp_path / "r20.pth")]) == 2
    assert "--weights is for one MODEL, got 2" in capsys.readouterr().err
