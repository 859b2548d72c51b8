"""The pure parts of a benchmark: the interleaved order of the rounds, the statistics of the timed
samples, the accuracy of a variant's outputs, the bf16-emulation flag and the fastest variants.

Nothing here times or runs anything, so each function is tested on plain numbers.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence

# CPU flags with native bf16 dot products (AVX-512 BF16: Cooper Lake, Zen 4 and later; AMX:
# Sapphire Rapids and later); without them oneDNN converts bf16 to fp32 for every product.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
EXACT_REL_TOL = 1e-4  # fp32-equivalent variants: max |diff| / max |reference logit|
MIN_ROUNDS = 5


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


def output_difference(output, reference) -> tuple[float, float]:
    """Max absolute difference and max relative difference (over the reference's largest |logit|).

    Args:
        output: the variant's output tensor.
        reference: fp32 eager's output on the same input.

    Returns:
        ``(max_abs_diff, max_rel_diff)``.
    """
    diff = (output.detach().float().cpu() - reference.detach().float().cpu()).abs().max().item()
    scale = reference.detach().float().abs().max().item()
    return diff, diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)


def is_exact(precision: str, max_rel_diff: float | None) -> bool | None:
    """Whether a variant counts as exact: fp32 precision and relative difference <= 1e-4."""
    if max_rel_diff is None:
        return None
    return precision == "fp32" and max_rel_diff <= EXACT_REL_TOL


def bf16_emulated(precision: str, device: str, cpu_flags: Iterable[str]) -> bool:
    """Whether a bf16 variant runs on a CPU without native bf16 instructions (``BF16_FLAGS``)."""
    return precision == "bf16" and device == "cpu" and not set(BF16_FLAGS) & set(cpu_flags)


def speedup(median_ms: float | None, baseline_ms: float | None) -> float | None:
    """``baseline / median``: how many times faster than the baseline (``None`` if unknown)."""
    if not median_ms or not baseline_ms:
        return None
    return baseline_ms / median_ms


def fastest(results: Sequence[dict], *, exact_only: bool) -> dict | None:
    """The ok result with the shortest median latency (only exact ones if ``exact_only``).

    Returns:
        ``{"runtime", "precision", "speedup"}``, or ``None`` when no result qualifies.
    """
    ok = [r for r in results if r["status"] == "ok" and r["latency_ms"] is not None]
    if exact_only:
        ok = [r for r in ok if r.get("exact")]
    if not ok:
        return None
    best = min(ok, key=lambda r: r["latency_ms"]["median"])
    return {"runtime": best["runtime"], "precision": best["precision"], "speedup": best["speedup"]}


def summarize(results: Sequence[dict]) -> list[dict]:
    """One summary row per model, batch size and mode: the fastest exact and the fastest variant.

    Args:
        results: result records of the bench schema.

    Returns:
        ``{"model", "batch_size", "mode", "fastest_exact", "fastest"}`` rows in first-seen order.
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
            "fastest": fastest(rows, exact_only=False),
        }
        for (model, batch, mode), rows in groups.items()
    ]
