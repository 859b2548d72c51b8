"""``cnnzoo report`` as a command: the site built (and checked in a browser with ``--check``), and
the lines it prints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cnnzoo.progress import Progress
from cnnzoo.report.live import BENCH_THREADS
from cnnzoo.report.site import ReportConfig, build_report


def run_report(
    config: ReportConfig, warn: Callable[[str], None], progress: Progress | None = None
) -> tuple[list[str], int]:
    """Build the site of ``config``.

    Args:
        config: the flags.
        warn: called with a line for each input left out (when it is found) and each problem
            the browser check found.
        progress: the progress of the work (:func:`~cnnzoo.report.site.build_report`).

    Returns:
        The lines for standard output, and the exit code: 1 when an input was left out or a page
        is broken, else 0.
    """
    broken: list[str] = []

    def check(site: Path, pages: list[str]) -> None:  # the browser, on the staged site
        from cnnzoo.report.browser import check_site

        for load in check_site(str(site), pages, site / "screenshots"):
            problems = [*load.console, *(f"broken image {src}" for src in load.broken_images)]
            broken.extend(f"{Path(load.path).name}: {line}" for line in problems)

    result = build_report(
        config,
        lambda line: warn(f"cnnzoo report: error: {line}; left out"),
        check if config.check else None,
        progress,
    )
    for line in broken:
        warn(f"cnnzoo report: {line}")
    out, pages = result["out"], len(result["pages"])
    lines = [f"wrote {pages} pages to {out}/ in {result['seconds']:.1f} s (open {out}/index.html)"]
    for live in result.get("live", []):
        files = " and ".join(f"{p} {n / 2**20:.2f} MiB" for p, n in live["bytes"].items())
        bench = " / ".join(f"{ms:.2f}" if ms else "-" for ms in live["bench_ms"].values())
        lines.append(
            f"live page {live['page']}: {live['model']} ({live['source']}), {files}; cnnzoo "
            f"bench, ONNX Runtime on {BENCH_THREADS} thread: {bench} ms"
        )
    if config.check:
        lines.append(
            f"checked {pages} pages in headless Chromium; screenshots in "
            f"{Path(out) / 'screenshots'}/"
        )
    return lines, 1 if result["problems"] or broken else 0
