import pytest

from cnnzoo.bench.stats import (
    bf16_emulated,
    fastest,
    is_exact,
    iterations_per_sample,
    latency_stats,
    round_orders,
    speedup,
    summarize,
)


def test_round_orders_rotate_and_cover_every_variant():
    orders = round_orders(3, 4)
    assert orders == [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 1, 2]]
    for order in orders:
        assert sorted(order) == [0, 1, 2]
    firsts = [o[0] for o in round_orders(4, 8)]
    assert sorted(firsts) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert round_orders(0, 3) == []


def test_iterations_per_sample():
    assert iterations_per_sample(0.2, 0.05) == 1
    assert iterations_per_sample(0.001, 0.05) == 50
    assert iterations_per_sample(0.0, 0.05) == 1


def test_latency_stats():
    stats = latency_stats([5.0, 1.0, 3.0, 2.0, 4.0])
    assert stats == {"median": 3.0, "min": 1.0, "max": 5.0, "iqr": 2.0}
    assert latency_stats([7.0])["iqr"] == 0.0
    with pytest.raises(ValueError):
        latency_stats([])


def test_exact_and_speedup():
    assert is_exact("fp32", 1e-5) is True
    assert is_exact("fp32", 1e-3) is False
    assert is_exact("bf16", 0.0) is False
    assert is_exact("int8", 0.0) is False
    assert is_exact("fp32", None) is None
    assert speedup(2.0, 6.0) == 3.0
    assert speedup(None, 6.0) is None


@pytest.mark.parametrize(
    ("flags", "precision", "device", "emulated"),
    [
        ([], "bf16", "cpu", True),
        (["avx2", "avx512f"], "bf16", "cpu", True),
        (["avx512_bf16"], "bf16", "cpu", False),
        (["amx_tile", "amx_bf16"], "bf16", "cpu", False),
        ([], "fp32", "cpu", False),
        ([], "bf16", "cuda", False),
    ],
)
def test_bf16_emulated(flags, precision, device, emulated):
    assert bf16_emulated(precision, device, flags) is emulated


def result(runtime, precision, median, *, exact, batch=1, status="ok"):
    return {
        "model": "m",
        "batch_size": batch,
        "mode": "infer",
        "runtime": runtime,
        "precision": precision,
        "status": status,
        "exact": exact,
        "speedup": 4.0 / median,
        "latency_ms": None if status != "ok" else {"median": median},
    }


def test_fastest_exact_and_fastest_overall():
    rows = [
        result("eager", "fp32", 4.0, exact=True),
        result("fold", "fp32", 2.5, exact=True),
        result("compile", "bf16", 1.0, exact=False),
        result("onnxruntime", "int8", 0.5, exact=False, status="skipped"),
        result("eager", "fp32", 8.0, exact=True, batch=8),
    ]
    assert fastest(rows, exact_only=True) == {
        "runtime": "fold",
        "precision": "fp32",
        "speedup": 1.6,
    }
    assert fastest(rows, exact_only=False)["runtime"] == "compile"
    summary = summarize(rows)
    assert [(s["model"], s["batch_size"]) for s in summary] == [("m", 1), ("m", 8)]
    assert summary[1]["fastest"]["runtime"] == "eager"
    assert fastest([rows[3]], exact_only=False) is None


def test_the_fastest_of_each_reduced_precision():
    rows = [
        result("eager", "fp32", 4.0, exact=True),
        result("eager", "bf16", 3.0, exact=False),
        result("compile", "bf16", 1.0, exact=False),
        result("onnxruntime", "int8", 0.5, exact=False, status="unjudged"),
        result("onnxruntime", "bf16", 0.9, exact=False, status="skipped"),
    ]
    rows[3]["latency_ms"] = {"median": 0.5}  # timed, not judged
    assert fastest(rows, exact_only=False, precision="bf16")["runtime"] == "compile"
    (summary,) = summarize(rows)
    assert summary["fastest_by_precision"] == {
        "bf16": {"runtime": "compile", "precision": "bf16", "speedup": 4.0},
        "int8": None,
    }
    assert summary["fastest"]["runtime"] == "compile"


def test_verdict():
    from cnnzoo.bench.stats import UNJUDGED_INT8, verdict

    agrees = {"images": 1000, "agreement": 0.995, "agrees": True}
    disagrees = {"images": 1000, "agreement": 0.42, "agrees": False}
    assert verdict("fp32", True, None) == ("ok", None)
    assert verdict("int8", False, agrees) == ("ok", None)
    status, reason = verdict("int8", False, disagrees)
    assert status == "disagrees" and "42.00% of 1,000 test images (needs >= 99%)" in reason
    assert verdict("bf16", False, disagrees)[0] == "disagrees"
    assert verdict("int8", False, None) == ("unjudged", UNJUDGED_INT8)
    assert verdict("bf16", False, None) == ("ok", None)


def test_int8_refusal_below_the_pt2e_grid():
    from cnnzoo.bench.stats import PT2E_SCALE_FLOOR, int8_refusal

    observers = pytest.importorskip("torchao.quantization.pt2e.quantizer.x86_inductor_quantizer")
    config = observers.get_default_x86_inductor_quantization_config()
    assert config.weight.observer_or_fake_quant_ctr.p.keywords["eps"] == PT2E_SCALE_FLOOR
    assert int8_refusal("executorch", "int8", 0.9 * PT2E_SCALE_FLOOR) is not None
    reason = int8_refusal("executorch", "int8", 8.4e-18)  # random-init mobilenet_v1, 224 x 224
    assert "8.4e-18" in reason and "vanish" in reason
    assert int8_refusal("compile", "int8", 8.4e-18) == reason
    assert int8_refusal("onnxruntime", "int8", 8.4e-18) is None  # its scales have no floor
    assert int8_refusal("executorch", "fp32", 8.4e-18) is None
    assert int8_refusal("executorch", "int8", 3.2) is None


def test_only_ok_results_can_be_fastest():
    rows = [
        result("eager", "fp32", 4.0, exact=True),
        result("executorch", "int8", 0.3, exact=False, status="disagrees"),
        result("compile", "int8", 0.4, exact=False, status="refused"),
        result("onnxruntime", "int8", 0.5, exact=False, status="unjudged"),
    ]
    rows[3]["latency_ms"] = {"median": 0.5}  # unjudged variants are timed
    assert fastest(rows, exact_only=False) == {
        "runtime": "eager",
        "precision": "fp32",
        "speedup": 1.0,
    }
    rows.append(result("onnxruntime", "int8", 0.8, exact=False))  # judged and agreeing
    assert fastest(rows, exact_only=False)["speedup"] == 5.0
