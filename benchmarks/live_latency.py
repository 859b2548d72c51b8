"""How fast the live pages run: ``cnnzoo report --live`` pages of LeNet-5, ResNet-20 and MobileNet
v1 (width 0.25 and 1.0) in headless Chromium, beside ``cnnzoo bench``'s ONNX Runtime in Python on
the same checkpoints' exports.

The checkpoints, trained on Fashion-MNIST by the training engine unless they exist (each kept in
``runs/live_latency/<model>``, so a second run reuses them):

- lenet5: ``cnnzoo train lenet5 --epochs 2`` (28 x 28 in);
- resnet20: the speed run's ``--recipe fashion-mnist-94`` seed 0 when its folder is there
  (``runs/fashion_mnist_speedrun_resnet20/recipe-seed0``), else ``--epochs 2``;
- mobilenet_v1_025 and mobilenet_v1: ``--epochs 1 --subset 2048 --input-size 224`` (224 x 224 in,
  the size a phone app feeds; the page resizes the 28 x 28 images up as ``cnnzoo predict`` does).

Then one ``cnnzoo report --live`` site holds the four pages (its ``cnnzoo bench`` figures: ONNX
Runtime, batch 1, one thread, the median of 10 rounds), and each page is opened in headless
Chromium with networking off and given :data:`FRAMES` real test images through its file control;
the page times each ``session.run`` (fp32, then int8); the first :data:`WARMUP` frames are
dropped and the median of the rest is reported. A screenshot of the ResNet-20 page goes to
``benchmarks/results/live_page.png``.

Writes ``benchmarks/results/live_latency.json`` and ``.md``; a model already measured on this
host (same CPU flags) is not measured again (delete the JSON to start over).

Run: .venv/bin/python benchmarks/live_latency.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from common import ROOT, closing_lines, write_report

from cnnzoo.env import environment
from cnnzoo.files import write_text_atomic

RESULTS = ROOT / "benchmarks" / "results"
STATE = RESULTS / "live_latency.json"
RUNS = ROOT / "runs" / "live_latency"
SPEEDRUN = ROOT / "runs" / "fashion_mnist_speedrun_resnet20" / "recipe-seed0" / "best.pt"
FRAMES = 60  # images fed to each page
WARMUP = 10  # first frames dropped (the runtime's first runs allocate and tune)
TRAINING = {
    "lenet5": {"epochs": 2},
    "resnet20": {"epochs": 2},
    "mobilenet_v1_025": {"epochs": 1, "subset": 2048, "input_size": 224},
    "mobilenet_v1": {"epochs": 1, "subset": 2048, "input_size": 224},
}
HOST_KEYS = ("cpu", "cpu_flags", "cores")
WAIT_S = 600


def checkpoint(model: str) -> Path:
    """The model's Fashion-MNIST checkpoint (trained now if it is not there yet)."""
    from cnnzoo.train.config import TrainConfig
    from cnnzoo.train.engine import run

    if model == "resnet20" and SPEEDRUN.exists():
        return SPEEDRUN
    out = RUNS / model
    if not (out / "best.pt").exists():
        resume = (out / "last.pt").exists()
        run(TrainConfig(model, out=str(out), resume=resume, **TRAINING[model]))
    return out / "best.pt"


def test_images(count: int, folder: Path) -> list[Path]:
    """The first ``count`` Fashion-MNIST test images as PNG files."""
    from PIL import Image

    from cnnzoo.data.registry import load_dataset

    folder.mkdir(parents=True, exist_ok=True)
    test = load_dataset("fashion-mnist").test
    paths = []
    for i in range(count):
        paths.append(folder / f"test{i:02d}.png")
        Image.fromarray(test.images[i, 0].numpy()).save(paths[-1])
    return paths


def top1(logits: list[float]) -> int:
    return max(range(len(logits)), key=logits.__getitem__)


def measure_page(session, page: Path, images: list[Path], shot: Path | None) -> dict:
    """Feed ``images`` to the page; the per-precision median milliseconds after the warm-up
    frames, and how often fp32's and int8's top-1 agree."""
    from cnnzoo.report.browser import load_page, screenshot

    load = load_page(session, page)
    deadline = time.monotonic() + WAIT_S

    def wait(script: str) -> None:
        while not session.execute_script(script):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{page.name}: the page did not finish in {WAIT_S} s")
            time.sleep(0.2)

    wait("return window.cnnzooLive.ready || window.cnnzooLive.error")
    error = session.execute_script("return window.cnnzooLive.error")
    if error:
        raise RuntimeError(f"{page.name}: {error}")
    session.find_element("id", "live-upload").send_keys("\n".join(map(str, images)))
    wait(f"return window.cnnzooLive.results.length >= {len(images)}")
    results = session.execute_script("return window.cnnzooLive.results")
    kept = results[WARMUP:]
    out = {"console": list(load.console), "frames": len(kept)}
    for precision in ("fp32", "int8"):
        samples = [r[precision]["ms"] for r in kept]
        out[f"{precision}_ms"] = statistics.median(samples)
    out["agree"] = sum(top1(r["fp32"]["logits"]) == top1(r["int8"]["logits"]) for r in results)
    out["images"] = len(results)
    if shot is not None:
        screenshot(session, shot)
    return out


def main() -> int:
    from cnnzoo.report.browser import open_browser
    from cnnzoo.report.live import read_page_config
    from cnnzoo.report.site import ReportConfig, build_report

    env = environment("cpu")
    state = {"command": "python benchmarks/live_latency.py", "environment": env, "models": {}}
    if STATE.exists():
        old = json.loads(STATE.read_text())
        if all(old["environment"].get(k) == env.get(k) for k in HOST_KEYS):
            state["models"] = old["models"]
    todo = [m for m in TRAINING if m not in state["models"]]
    if todo:
        checkpoints = {m: checkpoint(m) for m in todo}
        site = RUNS / "site"
        print(f"building the live pages of {', '.join(todo)} (exports, cnnzoo bench) ...")
        built = build_report(
            ReportConfig(
                out=str(site),
                models=tuple(todo),
                live=tuple(map(str, checkpoints.values())),
                ort_web=str(ROOT / "web" / "node_modules" / "onnxruntime-web"),
                force=True,
            )
        )
        if built["problems"]:
            print("\n".join(built["problems"]), file=sys.stderr)
            return 1
        images = test_images(FRAMES, RUNS / "images")
        with open_browser(offline=True) as session:
            for index, model in enumerate(todo):
                page = site / f"live-{index}.html"
                config = read_page_config(page)
                shot = RESULTS / "live_page.png" if model == "resnet20" else None
                print(f"{model}: {FRAMES} frames in Chromium ...")
                measured = measure_page(session, page, images, shot)
                state["models"][model] = {
                    "checkpoint": str(checkpoints[model].relative_to(ROOT)),
                    "input": config["input"],
                    "bytes": {p: config["precisions"][p]["bytes"] for p in ("fp32", "int8")},
                    "bench_ms": {
                        p: config["precisions"][p]["bench"]["median_ms"] for p in ("fp32", "int8")
                    },
                    **measured,
                }
                write_text_atomic(STATE, json.dumps(state, indent=2) + "\n")
    write_text_atomic(STATE, json.dumps(state, indent=2) + "\n")
    write_report(RESULTS / "live_latency.md", report(state))
    print(f"wrote {RESULTS / 'live_latency.md'}")
    return 0


def report(state: dict) -> str:
    """The Markdown table of ``state``."""
    env = state["environment"]
    lines = [
        "# The live pages' speed: in the browser and in Python",
        "",
        f"Host: {env['cpu']}, {env['cores']} cores, flags `{' '.join(env['cpu_flags'])}`; "
        "headless Chromium, ONNX Runtime's WebAssembly build on one thread, networking off. "
        f"Page: median over {FRAMES - WARMUP} frames after {WARMUP} dropped, batch 1. "
        "cnnzoo bench: ONNX Runtime's CPU provider in Python, one thread, batch 1, median of 10 "
        "rounds, on the same checkpoint exported the same way.",
        "",
        "| model | input | fp32 file | int8 file | page fp32 | bench fp32 | page / bench | "
        "page int8 | bench int8 | page / bench | same top-1 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for model, m in state["models"].items():
        c, h, w = m["input"]
        row = [model, f"{c}x{h}x{w}"]
        row += [f"{m['bytes'][p] / 2**20:.2f} MiB" for p in ("fp32", "int8")]
        for p in ("fp32", "int8"):
            bench = m["bench_ms"][p]
            row += [f"{m[f'{p}_ms']:.2f} ms", f"{bench:.2f} ms" if bench else "-"]
            row += [f"{m[f'{p}_ms'] / bench:.2f}x" if bench else "-"]
        row += [f"{m['agree']} of {m['images']}"]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "![The ResNet-20 page after the test images](live_page.png)", ""]
    return "\n".join([*lines, *closing_lines(state)])


if __name__ == "__main__":
    sys.exit(main())
