"""``cnnzoo bench`` as a command: the measurement with a progress bar, rendered in the chosen
format to standard output or to ``--out``."""

from __future__ import annotations

import os
from collections.abc import Callable

from cnnzoo.bench.core import BenchConfig, bench_models, spin_warning
from cnnzoo.bench.render import RENDERERS
from cnnzoo.files import write_text_atomic
from cnnzoo.progress import rich_progress


def run_bench(config: BenchConfig, warn: Callable[[str], None]) -> str:
    """Measure ``config`` and render the record in ``config.format``.

    Args:
        config: the flags.
        warn: called with the lines for standard error (a spinning-threads warning, the file
            written).

    Returns:
        The text for standard output (empty when it was written to ``config.out``).
    """
    warning = spin_warning(config.runtime, os.environ.get("OMP_WAIT_POLICY"))
    if warning:
        warn(f"cnnzoo bench: warning: {warning}")
    with rich_progress("cnnzoo bench") as progress:
        record = bench_models(config, progress)
    text = RENDERERS[config.format](record)
    if not config.out:
        return text
    warn(f"wrote {write_text_atomic(config.out, text)}")
    return ""
