"""benchmarks/fashion_mnist_speedrun.py's clock: a run timed to its end or stopped at the target,
its state saved as it goes, a finished run not run again, another host's state set aside.

A fake training process stands in for ``cnnzoo train``: it writes a metrics.csv row every 0.3 s
and, on SIGTERM, a ``last.pt`` before it exits.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
FAKE = """
import signal, sys, time
from pathlib import Path

import pytest
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
def stop(*_):
    (out / "last.pt").write_text("stopped")
    sys.exit(143)
signal.signal(signal.SIGTERM, stop)
rows = ["epoch,test_top1"]
for epoch, top1 in enumerate([0.90, 0.95, 0.96], start=1):
    time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0.3)
    rows.append(f"{epoch},{top1}")
    (out / "metrics.csv").write_text("\\n".join(rows) + "\\n")
"""


def load_speedrun():
    sys.path.insert(0, str(BENCHMARKS))  # the script imports benchmarks/common.py
    try:
        spec = importlib.util.spec_from_file_location(
            "speedrun", BENCHMARKS / "fashion_mnist_speedrun.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


speedrun = load_speedrun()
HOST = {"cpu": "a cpu", "cpu_flags": ["avx2"], "cores": 2}


def fake_argv(out: Path):
    return lambda resume: [sys.executable, "-c", FAKE, str(out)]


def run_fake(bench, key: str, out: Path, *, stop_at_target: bool = False, argv=None, **kwargs):
    """``run_one`` of the fake training process (or of ``argv``) into ``out``, target 94%."""
    argv = argv or fake_argv(out)
    return speedrun.run_one(
        bench, key, argv, out, target=0.94, stop_at_target=stop_at_target, **kwargs
    )


def test_a_recipe_run_is_timed_to_its_end_and_the_baseline_to_the_target(tmp_path):
    bench = speedrun.Bench(tmp_path / "state.json", {"environment": HOST})
    whole = run_fake(bench, "recipe-seed0", tmp_path / "a")
    assert [e["epoch"] for e in whole["epochs"]] == [1, 2, 3]
    assert whole["final_top1"] == 0.96 and whole["epochs_to_target"] == 2
    assert whole["seconds_to_target"] == whole["seconds"] >= 0.9
    stopped = run_fake(bench, "baseline", tmp_path / "b", stop_at_target=True)
    assert [e["epoch"] for e in stopped["epochs"]] == [1, 2]  # stopped before the third row
    assert (tmp_path / "b" / "last.pt").exists()  # by SIGTERM
    assert 0.6 <= stopped["seconds_to_target"] <= stopped["seconds"]
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["runs"]["baseline"]["done"] and saved["runs"]["recipe-seed0"]["done"]


def test_a_finished_run_is_not_run_again_unless_its_recipe_changed(tmp_path):
    head = {"environment": HOST}
    bench = speedrun.Bench(tmp_path / "state.json", head)
    out = tmp_path / "a"
    recipe = {"lr": 1, "milestones": (0.5, 0.75)}  # a tuple, a list once saved and read back
    first = run_fake(bench, "recipe-seed0", out, recipe=recipe)
    again = speedrun.Bench(tmp_path / "state.json", head)
    never = lambda resume: [sys.executable, "-c", "raise SystemExit(3)"]  # noqa: E731
    same = run_fake(again, "recipe-seed0", out, argv=never, recipe=recipe)
    assert same == first
    (out / "last.pt").write_text("a checkpoint of the old recipe")
    changed = run_fake(again, "recipe-seed0", out, recipe={"lr": 2})
    assert changed["recipe"] == {"lr": 2} and len(changed["epochs"]) == 3
    assert not (out / "last.pt").exists()  # the old run's folder went with it


def test_a_run_started_over_starts_its_log_and_cache_over_and_a_resumed_one_keeps_them(tmp_path):
    bench = speedrun.Bench(tmp_path / "state.json", {"environment": HOST})
    out, log, cache = tmp_path / "a", tmp_path / "a.log", tmp_path / "a.inductor"
    talking = lambda resume: [sys.executable, "-c", f"print('resume={resume}')"]  # noqa: E731
    log.write_text("an older benchmark's run\n")
    cache.mkdir()
    (cache / "kernel").write_text("compiled by an older run")
    with pytest.raises(SystemExit, match=r"ended without a test result; see .*a\.log$"):
        run_fake(bench, "recipe-seed0", out, argv=talking, recipe={"lr": 1})  # no metrics
    assert log.read_text() == "resume=False\n"
    assert not (cache / "kernel").exists()  # compiled from cold, as a first run is
    out.mkdir()
    (out / "last.pt").write_text("stopped")
    cache.mkdir(exist_ok=True)
    (cache / "kernel").write_text("compiled by this run")
    with pytest.raises(SystemExit):
        run_fake(bench, "recipe-seed0", out, argv=talking, recipe={"lr": 1})
    assert log.read_text() == "resume=False\nresume=True\n"
    assert (cache / "kernel").exists()  # a resumed run keeps its own cache


def test_a_run_folder_the_state_does_not_record_starts_over(tmp_path):
    out = tmp_path / "a"
    out.mkdir()
    (out / "last.pt").write_text("a checkpoint of a run timed elsewhere")
    bench = speedrun.Bench(tmp_path / "state.json", {"environment": HOST})
    seen = []

    def argv(resume):
        seen.append(resume)
        return fake_argv(out)(resume)

    entry = run_fake(bench, "baseline", out, argv=argv)
    assert seen == [False] and len(entry["epochs"]) == 3  # not resumed: its clock is unknown


def test_another_host_starts_over_and_keeps_the_old_state_aside(tmp_path):
    bench = speedrun.Bench(tmp_path / "state.json", {"environment": HOST})
    out = tmp_path / "a"
    run_fake(bench, "recipe-seed0", out)
    other = speedrun.Bench(tmp_path / "state.json", {"environment": {**HOST, "cores": 4}})
    assert other.state["runs"] == {}
    assert (tmp_path / "state.stale.json").exists()


def test_start_over_on_the_same_host_measures_everything_again_and_keeps_the_old_state(tmp_path):
    bench = speedrun.Bench(tmp_path / "state.json", {"environment": HOST})
    run_fake(bench, "recipe-seed0", tmp_path / "a")
    kept = speedrun.Bench(tmp_path / "state.json", {"environment": HOST})
    assert set(kept.state["runs"]) == {"recipe-seed0"}
    again = speedrun.Bench(tmp_path / "state.json", {"environment": HOST}, start_over=True)
    assert again.state["runs"] == {}
    old = json.loads((tmp_path / "state.stale.json").read_text())
    assert old["runs"]["recipe-seed0"]["done"]


def test_a_report_of_the_baseline_alone_says_no_recipe_ran():
    entry = {"command": "cnnzoo train resnet20", "final_top1": 0.9411, "seconds_to_target": 9.0}
    entry |= {"epochs": [{"epoch": 33, "test_top1": 0.9411, "at_s": 9.0}], "epochs_to_target": 33}
    state = {"command": "speedrun --seeds", "environment": {**HOST, "torch": "2"}}
    state |= {"model": "m", "recipe": "r", "target": 0.94, "runs": {"baseline": entry}}
    text = speedrun.report(state)
    assert "No recipe run yet" in text and "seeds end below" not in text


def test_a_failing_run_stops_the_benchmark_with_one_line(tmp_path):
    bench = speedrun.Bench(tmp_path / "state.json", {"environment": HOST})
    failing = lambda resume: [sys.executable, "-c", "raise SystemExit(2)"]  # noqa: E731
    with pytest.raises(SystemExit, match=r"failed \(exit 2\)"):
        run_fake(bench, "baseline", tmp_path / "c", argv=failing, stop_at_target=True)


def test_the_report_has_the_ratio_and_the_curve_of_a_run_evaluated_more_than_once(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(speedrun, "RESULTS", tmp_path / "results")
    head = {"command": "speedrun", "environment": {**HOST, "torch": "2"}, "model": "m"}
    bench = speedrun.Bench(tmp_path / "state.json", {**head, "recipe": "r", "target": 0.94})
    run_fake(bench, "baseline", tmp_path / "runs" / "baseline", stop_at_target=True)
    run_fake(bench, "recipe-seed0", tmp_path / "runs" / "recipe-seed0")
    columns = "epoch,train_loss,train_top1,test_loss,test_top1"
    rows = [columns, "1,1.0,0.8,0.9,0.90", "2,0.5,0.9,0.6,0.95", "3,0.4,0.95,0.5,0.96"]
    (tmp_path / "runs" / "recipe-seed0" / "metrics.csv").write_text("\n".join(rows) + "\n")
    curves = speedrun.write_curves(bench.state, tmp_path / "runs", "best")
    assert curves == {"recipe-seed0": "best_recipe-seed0_curves.svg"}
    assert (tmp_path / "results" / curves["recipe-seed0"]).read_text().startswith("<?xml")
    text = speedrun.report(bench.state, curves)
    base, run = bench.state["runs"]["baseline"], bench.state["runs"]["recipe-seed0"]
    ratio = base["seconds_to_target"] / run["seconds_to_target"]
    assert f"**{ratio:.2f}x** faster" in text
    assert "![recipe-seed0: loss and top-1 per epoch](best_recipe-seed0_curves.svg)" in text
    table = [line for line in text.splitlines() if line.startswith("| 3 | 96.00% |")]
    assert len(table) == 1  # the last evaluated epoch of the curve
    assert "## baseline" not in text  # the baseline is stopped at the target: no curve


STOPPED_MAIN = """
import sys
from pathlib import Path
sys.path.insert(0, {benchmarks!r})
import fashion_mnist_speedrun as speedrun
tmp = Path({tmp!r})
speedrun.ROOT, speedrun.RESULTS = tmp, tmp / "results"
speedrun.train_argv = lambda model, recipe, seed, out, resume: [
    sys.executable, "-c", {fake!r}, str(out), "5"]
sys.exit(speedrun.main(["--seeds", "0", "--baseline", "none", "--name", "t", *{extra!r}]))
"""


@pytest.mark.parametrize(
    ("extra", "again"),
    [([], "the same command continues"), (["--start-over"], "without --start-over continues")],
)
def test_sigterm_to_the_benchmark_stops_its_run_which_saves_and_resumes_later(
    tmp_path, extra, again
):
    code = STOPPED_MAIN.format(
        benchmarks=str(BENCHMARKS), tmp=str(tmp_path), fake=FAKE, extra=extra
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    run = tmp_path / "runs" / "t" / "recipe-seed0"
    deadline = time.monotonic() + 60
    while not (run / "metrics.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the fake training process has started (its folder and first row)
    proc.send_signal(signal.SIGTERM)  # the benchmark only, as `kill PID` does
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert again in stdout  # how to continue: a run started over continues without the flag
    assert (run / "last.pt").read_text() == "stopped"  # the training process saved and ended
    state = json.loads((tmp_path / "results" / "t.json").read_text())
    assert state["runs"]["recipe-seed0"]["done"] is False
    assert state["runs"]["recipe-seed0"]["seconds"] > 0


def test_a_recipe_field_added_since_at_its_default_is_the_same_recipe():
    defaults = {"ema_bn_batches": 0, "milestones": []}
    saved = {"model": "resnet20", "lr": 0.1}
    assert speedrun.same_recipe(saved, {**saved, "ema_bn_batches": 0}, defaults)
    assert not speedrun.same_recipe(saved, {**saved, "ema_bn_batches": 40}, defaults)
    assert not speedrun.same_recipe(saved, {**saved, "lr": 0.2, "ema_bn_batches": 0}, defaults)
    assert not speedrun.same_recipe(None, saved, defaults)
    assert speedrun.same_recipe({"lr": 1}, {"lr": 1, "epochs": 3}, defaults) is False
    assert speedrun.RECIPE_DEFAULTS["ema_bn_batches"] == 0  # read from the Recipe dataclass
