"""Time to 94% test top-1 on Fashion-MNIST: a named recipe against the default recipe, one host.

Runs the baseline, ``cnnzoo train resnet20`` with its default recipe, then ``cnnzoo train MODEL
--recipe RECIPE --seed S`` once per seed, each in a process of its own, exactly as a user types
them, and times each from the moment its process starts:

- a recipe run until its process ends (imports, data, compilation, every epoch's training and
  evaluation with its test-time augmentation, checkpoints); it counts only when its *final* test
  top-1 reaches the target;
- the baseline until its ``metrics.csv`` first shows the target at an epoch's end; it is then
  stopped (SIGTERM: it saves its ``last.pt`` and exits).

Nothing else runs meanwhile: one process at a time, ``OMP_NUM_THREADS`` = the cores, and each run
with an empty cache of compiled kernels (``torch.compile`` works from cold, as in a first run).

Resumable: the state is written to the results' JSON after every epoch and every 10 s; a benchmark
that is stopped (Ctrl-C or SIGTERM: it stops the run in progress with SIGTERM, which saves its
checkpoint) or killed continues with the same command, the run in progress from its ``last.pt``
(``cnnzoo train --resume``), its earlier processes' seconds added. Results measured on another
CPU are not mixed in: a host whose CPU or flags differ from the state's starts over (the old JSON
is kept beside it), and a run whose recipe changed since it was measured is run again.
``--start-over`` starts over on the same host too (hosts of one CPU name differ by up to 15 %
between sessions: a ratio compares runs measured in one session); such a run, stopped, continues
without it.

A recipe run evaluated more than once (``--eval-every``) gets its curve in the report: the test
top-1 of each evaluated epoch with its time, and an SVG of the run's loss and top-1 per epoch.

Run (from the repository root; about an hour on 2 cores, the baseline 36 minutes of it):
    .venv/bin/python benchmarks/fashion_mnist_speedrun.py
    .venv/bin/python benchmarks/fashion_mnist_speedrun.py --seeds   (the baseline alone)
The first recipe measured, resnet20's own (2.1x):
    .venv/bin/python benchmarks/fashion_mnist_speedrun.py --model resnet20 \
        --recipe fashion-mnist-94 --name fashion_mnist_speedrun_resnet20
The best accuracy within 3 hours, one seed, no baseline:
    .venv/bin/python benchmarks/fashion_mnist_speedrun.py --model wrn16_4 \
        --recipe fashion-mnist-best --seeds 0 --baseline none --target 0.955 \
        --name fashion_mnist_best
(writes benchmarks/results/<name>.md, .json and the curves' SVGs; run folders under runs/<name>/)
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, closing_lines, write_report

from cnnzoo.env import environment
from cnnzoo.files import write_text_atomic
from cnnzoo.registry import get_model_spec
from cnnzoo.report.figures import save_svg, training_curves
from cnnzoo.train.recipes import Recipe, recipe_for

POLL_S = 0.25  # how often a running run's metrics.csv is read
SAVE_S = 10.0  # how often the state is saved while no new epoch comes
RESULTS = ROOT / "benchmarks" / "results"
HOST_KEYS = ("cpu", "cpu_flags", "cores")  # what must match for times to be compared
# The recipe fields' defaults as a saved state holds them.
RECIPE_DEFAULTS = json.loads(
    json.dumps(
        {
            f.name: f.default
            for f in dataclasses.fields(Recipe)
            if f.default is not dataclasses.MISSING
        }
    )
)


def train_argv(model: str, recipe: str | None, seed: int, out: Path, resume: bool) -> list[str]:
    """The ``cnnzoo train`` command line of one run."""
    argv = [sys.executable, "-m", "cnnzoo", "train", model, "--seed", str(seed), "--out", str(out)]
    if recipe is not None:
        argv += ["--recipe", recipe]
    return argv + (["--resume"] if resume else [])


def read_rows(metrics: Path) -> list[dict]:
    """The finished epochs of a run's metrics.csv (none before it exists)."""
    try:
        with metrics.open(newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        return []


def same_recipe(saved: dict | None, fresh: dict, defaults: dict = RECIPE_DEFAULTS) -> bool:
    """Whether a run saved with recipe ``saved`` trained as ``fresh`` says. A field added to the
    recipes since the run was saved, which ``fresh`` holds at its default, changes nothing the
    run did: it counts as the same."""
    if saved is None:
        return False
    added = {k: v for k, v in defaults.items() if k not in saved and k in fresh and fresh[k] == v}
    return {**saved, **added} == fresh


def first_at(epochs: list[dict], target: float) -> dict | None:
    """The first epoch whose test top-1 reaches ``target``."""
    return next((e for e in epochs if e["test_top1"] >= target), None)


class Bench:
    """The benchmark's state (``runs``: one entry per run) and its JSON file."""

    def __init__(self, path: Path, head: dict, *, start_over: bool = False) -> None:
        self.path = path
        self.state = {**head, "runs": {}}
        if path.exists():
            old = json.loads(path.read_text())
            same = all(old["environment"].get(k) == head["environment"].get(k) for k in HOST_KEYS)
            if same and not start_over:
                self.state["runs"] = old["runs"]
            else:
                stale = path.with_suffix(".stale.json")
                path.replace(stale)
                why = "asked to start over" if same else "measured on another host"
                print(f"{path.name}: {why}; kept as {stale.name}, starting over")

    def save(self) -> None:
        write_text_atomic(self.path, json.dumps(self.state, indent=2) + "\n")


def run_one(
    bench: Bench,
    key: str,
    argv_of,
    out: Path,
    *,
    target: float,
    stop_at_target: bool,
    recipe: dict | None = None,
) -> dict:
    """Run (or continue) one training run and time it; see the module docstring.

    Args:
        bench: the state; the run's entry ``bench.state["runs"][key]`` is kept up to date.
        key: the run's name in the state.
        argv_of: ``argv_of(resume)`` -> the command line.
        out: the run folder.
        target: the test top-1 to reach.
        stop_at_target: stop the run at the first epoch that reaches ``target``.
        recipe: what the run trains with (JSON-able data); a saved run of another recipe is
            run again from scratch, its folder emptied.
    """
    recipe = json.loads(json.dumps(recipe))  # as the saved state holds it (tuples as lists)
    fresh = {"seconds": 0.0, "epochs": [], "done": False, "recipe": recipe}
    if key not in bench.state["runs"]:  # a folder without a record (the state was moved away)
        shutil.rmtree(out, ignore_errors=True)  # is not continued: its clock is lost
    entry = bench.state["runs"].setdefault(key, dict(fresh))
    if not same_recipe(entry.get("recipe"), recipe):
        entry.clear()
        entry.update(fresh)
        shutil.rmtree(out, ignore_errors=True)
    entry["recipe"] = recipe
    if entry["done"]:
        return entry
    resume = (out / "last.pt").exists()
    cache = out.parent / f"{out.name}.inductor"
    if not resume:  # nothing to continue: the run starts over, and so do its clock and its cache
        entry.update(seconds=0.0, epochs=[])
        shutil.rmtree(cache, ignore_errors=True)
    before = entry["seconds"]  # the earlier processes' time, up to their last save
    argv = argv_of(resume)
    entry["command"] = " ".join(["cnnzoo", *argv[3:]])
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(os.cpu_count() or 1),
        # A cache of compiled kernels of its own: every run compiles from cold, as a first run does.
        "TORCHINDUCTOR_CACHE_DIR": str(cache),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    # A resumed run's log goes on; a run started over starts its log over too.
    log = (out.parent / f"{out.name}.log").open("a" if resume else "w")
    start = time.perf_counter()
    child = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def elapsed() -> float:
        return before + time.perf_counter() - start

    stopping, saved = False, start
    try:
        while True:
            code = child.poll()
            rows = read_rows(out / "metrics.csv")
            now = entry["seconds"] = elapsed()
            new = rows[len(entry["epochs"]) :]
            for row in new:
                entry["epochs"].append(
                    {"epoch": int(row["epoch"]), "test_top1": float(row["test_top1"]), "at_s": now}
                )
            if new or time.perf_counter() - saved >= SAVE_S:  # a killed benchmark keeps its time
                bench.save()
                saved = time.perf_counter()
            if stop_at_target and not stopping and first_at(entry["epochs"], target):
                child.send_signal(signal.SIGTERM)
                stopping = True
            if code is not None:
                break
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        child.send_signal(signal.SIGTERM)
        child.wait()
        entry["seconds"] = elapsed()
        bench.save()
        raise
    finally:
        log.close()
    total = elapsed()
    reached = first_at(entry["epochs"], target)
    failed = code != 0 and not (stopping and reached)
    if failed or not entry["epochs"]:
        entry["seconds"] = total
        bench.save()
        why = f"failed (exit {code})" if failed else "ended without a test result"
        raise SystemExit(f"{key}: `{entry['command']}` {why}; see {log.name}")
    entry.update(
        done=True,
        seconds=total,
        final_top1=entry["epochs"][-1]["test_top1"],
        seconds_to_target=((total if not stop_at_target else reached["at_s"]) if reached else None),
        epochs_to_target=reached["epoch"] if reached else None,
    )
    bench.save()
    return entry


def report(state: dict, curves: dict[str, str] | None = None) -> str:
    """The Markdown report of a finished benchmark; ``curves``: the runs' curve figures."""
    curves = curves or {}
    target, runs = state["target"], state["runs"]
    env = state["environment"]
    seeds = [runs[k] for k in runs if k.startswith("recipe-")]
    base = runs.get("baseline")
    lines = [
        f"# Fashion-MNIST: `{state['model']} --recipe {state['recipe']}`, time to "
        f"{target:.1%} test top-1",
        "",
        f"Host: {env['cpu']}, {env['cores']} cores, flags {' '.join(env['cpu_flags']) or 'none'}; "
        f"torch {env['torch']}.",
        "",
        "| run | command | final test top-1 | time to target (s) | epochs | ratio |",
        "|---|---|---:|---:|---:|---:|",
    ]
    base_s = base["seconds_to_target"] if base else None
    for key, entry in runs.items():
        secs = entry.get("seconds_to_target")
        ratio = f"{base_s / secs:.2f}x" if base_s and secs else "-"
        lines.append(
            f"| {key} | `{entry['command']}` | {entry['final_top1']:.2%} | "
            f"{'-' if secs is None else f'{secs:.1f}'} | {entry['epochs'][-1]['epoch']} | {ratio} |"
        )
    times = [e["seconds_to_target"] for e in seeds]
    lines.append("")
    if seeds and all(t is not None for t in times):
        mean = statistics.mean(times)
        summary = (
            f"Every seed's final test top-1 reaches {target:.1%}: mean time {mean:.1f} s "
            f"(min {min(times):.1f}, max {max(times):.1f}) over {len(times)} seeds"
        )
        if base_s:
            summary += (
                f"; the baseline first reaches {target:.1%} after epoch "
                f"{base['epochs_to_target']}, at {base_s:.1f} s: **{base_s / mean:.2f}x** faster"
            )
        lines.append(summary + ".")
    elif seeds:
        failed = sum(t is None for t in times)
        lines.append(f"{failed} of {len(times)} seeds end below {target:.1%}.")
    else:
        lines.append("No recipe run yet (`--seeds` with none: the baseline alone).")
    lines.append("")
    for key, entry in runs.items():
        if key != "baseline" and len(entry["epochs"]) > 1:  # a curve: evaluated more than once
            lines += curve_lines(key, entry, curves.get(key))
    return "\n".join(lines + closing_lines(state))


def curve_lines(key: str, entry: dict, figure: str | None) -> list[str]:
    """The test top-1 of a run's evaluated epochs, with the seconds since its start."""
    lines = [f"## {key}: test top-1 per evaluated epoch", ""]
    if figure:
        lines += [f"![{key}: loss and top-1 per epoch]({figure})", ""]
    lines += ["| epoch | test top-1 | at (s) |", "|---:|---:|---:|"]
    lines += [f"| {e['epoch']} | {e['test_top1']:.2%} | {e['at_s']:.0f} |" for e in entry["epochs"]]
    return [*lines, ""]


def write_curves(state: dict, folder: Path, name: str) -> dict[str, str]:
    """An SVG of loss and top-1 per evaluated epoch (the report's training curves) for each
    recipe run evaluated more than once; ``{run: file name}``."""
    written = {}
    for key, entry in state["runs"].items():
        rows = read_rows(folder / key / "metrics.csv")
        if key == "baseline" or len(rows) < 2:
            continue
        path = save_svg(training_curves(entry["command"], rows), RESULTS / f"{name}_{key}_curves")
        written[key] = path.name
    return written


def interrupt(signum: int, frame) -> None:
    """SIGTERM's handler: stop as Ctrl-C does (the run in progress is stopped with SIGTERM in
    turn, saves its checkpoint, and the state is saved)."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="airbench94_half")
    parser.add_argument("--recipe", default="fashion-mnist-94-fast", help="a --recipe name")
    parser.add_argument(
        "--seeds", type=int, nargs="*", default=[0, 1, 2], help="none: baseline only"
    )
    parser.add_argument("--target", type=float, default=0.94, help="test top-1, a fraction")
    parser.add_argument(
        "--baseline", default="resnet20", help="model trained with its default recipe, or none"
    )
    parser.add_argument("--name", default="fashion_mnist_speedrun", help="results' file name")
    parser.add_argument(
        "--start-over",
        action="store_true",
        help="measure every run again (hosts of one CPU name differ in speed between sessions)",
    )
    args = parser.parse_args(argv)

    # the runs' OMP_NUM_THREADS is set by run_one (the cores): the command needs no prefix
    command = ".venv/bin/python benchmarks/fashion_mnist_speedrun.py"
    command += " " + " ".join(sys.argv[1:] if argv is None else argv)
    head = {
        "command": command.strip(),
        "environment": environment("cpu"),
        "model": args.model,
        "recipe": args.recipe,
        "target": args.target,
    }
    bench = Bench(RESULTS / f"{args.name}.json", head, start_over=args.start_over)
    signal.signal(signal.SIGTERM, interrupt)  # `kill` must not leave the training process behind
    folder = ROOT / "runs" / args.name

    def recipe(model: str, name: str | None) -> dict:
        family = get_model_spec(model).family
        found = recipe_for(model, family, "fashion-mnist", small_images=True, name=name)
        return {"model": model, **found.as_dict()}

    try:
        if args.baseline != "none":  # first: the target the seeds are measured against
            out = folder / "baseline"
            run_one(
                bench,
                "baseline",
                lambda resume: train_argv(args.baseline, None, 0, out, resume),
                out,
                target=args.target,
                stop_at_target=True,
                recipe=recipe(args.baseline, None),
            )
        for seed in args.seeds:
            key = f"recipe-seed{seed}"
            out = folder / key
            run_one(
                bench,
                key,
                lambda resume, s=seed, o=out: train_argv(args.model, args.recipe, s, o, resume),
                out,
                target=args.target,
                stop_at_target=False,
                recipe=recipe(args.model, args.recipe),
            )
    except KeyboardInterrupt:
        again = "the same command without --start-over" if args.start_over else "the same command"
        print(f"stopped; {again} continues ({bench.path.name} holds the state)")
        return 130
    text = report(bench.state, write_curves(bench.state, folder, args.name))
    write_report(RESULTS / f"{args.name}.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
