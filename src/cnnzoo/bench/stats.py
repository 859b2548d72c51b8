"""The pure parts of a benchmark: the interleaved order of the rounds, the statistics of the timed
samples, the verdict on a variant's outputs, the bf16-emulation flag and the fastest variants.

Nothing here times or runs anything, so each function is tested on plain numbers.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence

from cnnzoo.env import BF16_FLAGS
from cnnzoo.export.judge import disagreement_reason

EXACT_REL_TOL = 1e-4  # fp32-equivalent variants: max |diff| / max |reference logit|
MIN_ROUNDS = 5
# int8 through PT2E (compile: torchao's X86InductorQuantizer; executorch: XNNPACKQuantizer): both
# default configurations build every observer with eps=2**-12, the smallest scale they give, so
# values under one such step round to zero.
PT2E_RUNTIMES = ("compile", "executorch")
PT2E_SCALE_FLOOR = 2.0**-12
UNJUDGED_INT8 = (
    "int8 of random weights cannot be judged (their logits are near-ties and the calibration is "
    "random): agreement with fp32 is judged on a checkpoint's test images; never the fastest"
)


def round_orders(num_variants: int, rounds: int) -> list[list[int]]:
    """The order of the variants in each interleaved round: round ``r`` starts at variant
    ``r mod n`` and runs every variant once, so each variant runs first, second, ... equally often.

    Args:
        num_variants: how many variants are measured together.
        rounds: how many rounds.

    Returns:
        ``rounds`` lists, each a rotation of ``range(num_variants)``.
    """
    base = list(range(num_variants))
    return (
        [base[r % num_variants :] + base[: r % num_variants] for r in range(rounds)] if base else []
    )


def iterations_per_sample(seconds_per_iteration: float, min_sample_s: float) -> int:
    """How many iterations one timed sample loops so that it lasts at least ``min_sample_s``.

    Args:
        seconds_per_iteration: one iteration's time, from the warm-up.
        min_sample_s: the shortest sample wanted (timer resolution and noise).

    Returns:
        At least 1.
    """
    if seconds_per_iteration <= 0:
        return 1
    return max(1, math.ceil(min_sample_s / seconds_per_iteration))


def latency_stats(samples_ms: Sequence[float]) -> dict[str, float]:
    """Median, min, max and interquartile range of the per-batch latencies.

    Args:
        samples_ms: one latency per timed round, in milliseconds.

    Returns:
        ``{"median", "min", "max", "iqr"}`` (``iqr`` is 0 for fewer than 2 samples).
    """
    if not samples_ms:
        raise ValueError("no timed samples")
    if len(samples_ms) < 2:
        q1 = q3 = samples_ms[0]
    else:
        q1, _, q3 = statistics.quantiles(samples_ms, n=4, method="inclusive")
    return {
        "median": statistics.median(samples_ms),
        "min": min(samples_ms),
        "max": max(samples_ms),
        "iqr": q3 - q1,
    }


def is_exact(precision: str, max_rel_diff: float | None) -> bool | None:
    """Whether a variant counts as exact: fp32 precision and relative difference <= 1e-4."""
    if max_rel_diff is None:
        return None
    return precision == "fp32" and max_rel_diff <= EXACT_REL_TOL


def verdict(precision: str, exact: bool | None, judged: dict | None) -> tuple[str, str | None]:
    """The status of a prepared inference variant from its outputs.

    Args:
        precision: the variant's precision.
        exact: whether its outputs are fp32's within ``EXACT_REL_TOL``.
        judged: its :func:`~cnnzoo.export.judge.agreement` on a checkpoint's test images, or
            ``None`` (not judged: exact, or a model with random weights).

    Returns:
        ``("ok", None)``; ``("disagrees", reason)`` when it predicts fp32's top-1 on fewer than
        ``MIN_AGREEMENT`` of the test images; ``("unjudged", reason)`` for int8 that could not
        be judged (random weights). Only ``ok`` variants can be the fastest.
    """
    if exact:
        return "ok", None
    if judged is not None:
        return ("ok", None) if judged["agrees"] else ("disagrees", disagreement_reason(judged))
    if precision == "int8":
        return "unjudged", UNJUDGED_INT8
    return "ok", None


def int8_refusal(runtime: str, precision: str, max_logit: float) -> str | None:
    """Why PT2E int8 of a network whose fp32 logits reach only ``max_logit`` is refused, or
    ``None``: under one step of the quantizers' smallest scale (``PT2E_SCALE_FLOOR``) the
    quantized network outputs zeros.

    This is random-init mobilenet_v1 in eval mode: each depthwise convolution, He-initialised
    over its fan-out, shrinks the activations about tenfold (max |logit| 8e-18 at 224 x 224), so
    PT2E int8 gave all-zero logits (relative difference 1.0); ONNX Runtime, whose scales have no
    such floor, did not. A trained network's batch norms keep its activations at unit scale.
    """
    if precision != "int8" or runtime not in PT2E_RUNTIMES or max_logit >= PT2E_SCALE_FLOOR:
        return None
    return (
        f"fp32 logits reach only {max_logit:.1e}, under one step of PT2E int8's smallest "
        f"scale (its observers' eps, {PT2E_SCALE_FLOOR:.1e}): the activations vanish "
        "(random init), so int8 outputs zeros"
    )


def bf16_emulated(precision: str, device: str, cpu_flags: Iterable[str]) -> bool:
    """Whether a bf16 variant runs on a CPU without native bf16 instructions (``BF16_FLAGS``)."""
    return precision == "bf16" and device == "cpu" and not set(BF16_FLAGS) & set(cpu_flags)


def speedup(median_ms: float | None, baseline_ms: float | None) -> float | None:
    """``baseline / median``: how many times faster than the baseline (``None`` if unknown)."""
    if not median_ms or not baseline_ms:
        return None
    return baseline_ms / median_ms


def fastest(
    results: Sequence[dict], *, exact_only: bool, precision: str | None = None
) -> dict | None:
    """The ok result with the shortest median latency (only exact ones if ``exact_only``, only
    those of ``precision`` if given); a ``disagrees``, ``unjudged`` or ``refused`` variant never
    qualifies.

    Returns:
        ``{"runtime", "precision", "speedup"}``, or ``None`` when no result qualifies.
    """
    ok = [r for r in results if r["status"] == "ok" and r["latency_ms"] is not None]
    if exact_only:
        ok = [r for r in ok if r.get("exact")]
    if precision is not None:
        ok = [r for r in ok if r["precision"] == precision]
    if not ok:
        return None
    best = min(ok, key=lambda r: r["latency_ms"]["median"])
    return {"runtime": best["runtime"], "precision": best["precision"], "speedup": best["speedup"]}


def summarize(results: Sequence[dict]) -> list[dict]:
    """One summary row per model, batch size and mode: the fastest exact variant, the fastest of
    each reduced precision measured (every precision but fp32, in first-seen order) and the
    fastest variant.

    Args:
        results: result records of the bench schema.

    Returns:
        ``{"model", "batch_size", "mode", "fastest_exact", "fastest_by_precision", "fastest"}``
        rows in first-seen order; ``fastest_by_precision`` maps a precision to its choice
        (``None`` when none of its variants qualifies).
    """
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault((r["model"], r["batch_size"], r["mode"]), []).append(r)
    return [
        {
            "model": model,
            "batch_size": batch,
            "mode": mode,
            "fastest_exact": fastest(rows, exact_only=True),
            "fastest_by_precision": {
                p: fastest(rows, exact_only=False, precision=p) for p in reduced_precisions(rows)
            },
            "fastest": fastest(rows, exact_only=False),
        }
        for (model, batch, mode), rows in groups.items()
    ]


def reduced_precisions(results: Sequence[dict]) -> list[str]:
    """The precisions other than fp32 that ``results`` measured (skipped ones included), in
    first-seen order."""
    return list(dict.fromkeys(r["precision"] for r in results if r["precision"] != "fp32"))
