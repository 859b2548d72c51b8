"""``cnnzoo report --live``: the exported network running in the page, checked in headless
Chromium with networking off. Real Fashion-MNIST test images go through the page's file control
and the drawing through its canvas; the page's logits must be ONNX Runtime's in Python on the
same files preprocessed by ``cnnzoo predict``'s code."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnzoo.data.registry import load_dataset
from cnnzoo.report import live
from cnnzoo.report.browser import load_page, open_browser, requested_urls
from cnnzoo.report.site import ReportConfig, build_report, read_live_pages
from cnnzoo.source import open_source
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.engine import run

ROOT = Path(__file__).resolve().parents[2]
ORT_WEB = ROOT / "web" / "node_modules" / "onnxruntime-web"
IMAGES = 20  # real test images fed through the file control
WAIT_S = 120


@pytest.fixture(scope="module")
def live_site(tmp_path_factory, inputs, fake_mnist) -> dict:
    """A site with two live pages: LeNet-5 trained on the real Fashion-MNIST (28 x 28 in), and
    one trained at 32 x 32 (the page then resizes in floating point as well)."""
    root = tmp_path_factory.mktemp("live")
    wide = root / "lenet5-32"
    run(
        TrainConfig(
            "lenet5",
            dataset="mnist",
            data_dir=str(fake_mnist),
            epochs=1,
            subset=256,
            input_size=32,
            out=str(wide),
        )
    )
    checkpoints = (str(inputs["runs"] / "best.pt"), str(wide / "best.pt"))
    config = ReportConfig(
        out=str(root / "site"), models=("lenet5",), live=checkpoints, ort_web=str(ORT_WEB)
    )
    return {**build_report(config), "checkpoints": checkpoints}


@pytest.fixture(scope="module")
def session():
    with open_browser(offline=True, fake_camera=True) as browser:
        yield browser


@pytest.fixture(scope="module")
def test_images(tmp_path_factory) -> list[Path]:
    """The first real Fashion-MNIST test images as PNG files, and three harder files: a colour
    image of another size and shape, a larger grey one, and a smaller one."""
    folder = tmp_path_factory.mktemp("images")
    test = load_dataset("fashion-mnist").test
    paths = []
    for i in range(IMAGES):
        paths.append(folder / f"test{i:02d}.png")
        Image.fromarray(test.images[i, 0].numpy()).save(paths[-1])
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (37, 45, 3), dtype=np.uint8)
    extra = {
        "colour.png": Image.fromarray(colour),
        "large.png": Image.fromarray(test.images[IMAGES, 0].numpy()).resize((83, 83)),
        "small.png": Image.fromarray(test.images[IMAGES + 1, 0].numpy()).resize((19, 19)),
    }
    for name, image in extra.items():
        paths.append(folder / name)
        image.save(paths[-1])
    return paths


def python_outputs(checkpoint: str, onnx: Path, paths: list[Path]) -> list[np.ndarray]:
    """ONNX Runtime in Python on the files, preprocessed as ``cnnzoo predict`` does: each output
    of the file, the images stacked."""
    import onnxruntime

    batch = open_source(checkpoint).read_images(paths).numpy()
    session = onnxruntime.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    runs = [session.run(None, {"input": x[None]}) for x in batch]
    return [np.concatenate(outputs) for outputs in zip(*runs, strict=True)]


def python_logits(checkpoint: str, onnx: Path, paths: list[Path]) -> np.ndarray:
    return python_outputs(checkpoint, onnx, paths)[0]


def torch_logits(checkpoint: str, paths: list[Path]) -> np.ndarray:
    """The checkpoint's network in PyTorch on the files, preprocessed as ``cnnzoo predict`` does."""
    source = open_source(checkpoint)
    with torch.no_grad():
        return source.model(source.read_images(paths)).numpy()


def close(ours: np.ndarray, theirs: np.ndarray) -> bool:
    """Every logit within 1e-4 of its image's largest |logit|."""
    return bool((np.abs(ours - theirs) <= 1e-4 * np.abs(theirs).max(-1, keepdims=True)).all())


def wait_for(session, script: str, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = session.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"the page did not {what} in {WAIT_S} s")


def open_live(session, site: Path, page: str):
    load = load_page(session, site / page)
    wait_for(session, "return window.cnnzooLive.ready || window.cnnzooLive.error", "start")
    assert session.execute_script("return window.cnnzooLive.error") is None
    return load


def results(session) -> list[dict]:
    return session.execute_script("return window.cnnzooLive.results")


@pytest.mark.parametrize("index", [0, 1])
def test_uploaded_images_give_python_onnx_runtimes_logits(live_site, session, test_images, index):
    site, checkpoint = Path(live_site["out"]), live_site["checkpoints"][index]
    load = open_live(session, site, f"live-{index}.html")
    assert load.console == ()
    before = len(results(session))
    session.find_element("id", "live-upload").send_keys("\n".join(map(str, test_images)))
    wait_for(
        session,
        f"return window.cnnzooLive.results.length >= {before + len(test_images)}",
        "classify the files",
    )
    got = results(session)[before:]
    assert [r["name"] for r in got] == [p.name for p in test_images]
    for precision in live.PRECISIONS:
        ours = np.array([r[precision]["logits"] for r in got])
        theirs = python_logits(
            checkpoint, site / "live" / str(index) / f"{precision}.onnx", test_images
        )
        assert (ours.argmax(1) == theirs.argmax(1)).all(), precision
        if precision == "fp32":
            assert close(ours, theirs), np.abs(ours - theirs).max()
            assert close(ours, torch_logits(checkpoint, test_images))
    config = live.read_page_config(site / f"live-{index}.html")
    maps = session.execute_script(
        "return Object.fromEntries(Object.entries(window.cnnzooLive.maps)"
        ".map(([name, data]) => [name, Array.from(data)]))"
    )
    assert config["maps"] and sorted(maps) == sorted(m["name"] for m in config["maps"])
    onnx = site / "live" / str(index) / "fp32.onnx"
    theirs = python_outputs(checkpoint, onnx, test_images[-1:])
    for m, value in zip(config["maps"], theirs[1:], strict=True):
        assert close(np.array(maps[m["name"]]), value.ravel()), m["name"]
    canvases = session.find_elements("css selector", "#live-maps canvas")
    assert len(canvases) == sum(min(8, m["shape"][0]) for m in config["maps"])
    rows = session.find_elements("css selector", "#live-files tr")
    assert len(rows) >= len(test_images)
    assert session.find_element("id", "live-ms-fp32").text.endswith(")")  # a median is shown
    assert session.get_log("browser") == []


def test_the_drawing_canvas_is_classified_as_its_pixels(live_site, session, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains

    site, checkpoint = Path(live_site["out"]), live_site["checkpoints"][0]
    open_live(session, site, "live-0.html")
    canvas = session.find_element("id", "live-draw")
    before = len(results(session))
    ActionChains(session).move_to_element_with_offset(
        canvas, -60, -80
    ).click_and_hold().move_by_offset(40, 60).move_by_offset(40, 60).move_by_offset(
        30, -100
    ).release().perform()
    wait_for(
        session,
        f"return window.cnnzooLive.results.length > {before} && window.cnnzooLive.queued === 0",
        "classify the drawing",
    )
    last = results(session)[-1]
    assert last["name"] == "drawing"
    data = session.execute_script("return document.getElementById('live-draw').toDataURL()")
    drawing = tmp_path / "drawing.png"
    drawing.write_bytes(base64.b64decode(data.split(",", 1)[1]))
    assert Image.open(io.BytesIO(drawing.read_bytes())).convert("L").getextrema()[1] == 255
    theirs = python_logits(checkpoint, site / "live" / "0" / "fp32.onnx", [drawing])[0]
    ours = np.array(last["fp32"]["logits"])
    assert close(ours, theirs) and close(ours, torch_logits(checkpoint, [drawing])[0])


def test_the_camera_frames_are_classified_one_after_another(live_site, session):
    open_live(session, Path(live_site["out"]), "live-1.html")
    before = len(results(session))
    button = session.find_element("id", "live-camera")
    button.click()
    wait_for(
        session,
        f"return window.cnnzooLive.results.slice({before}).filter(r => r.name === 'camera')"
        ".length >= 3",
        "classify camera frames",
    )
    assert button.text == "Stop the camera"
    button.click()
    assert button.text == "Start the camera"
    assert session.find_element("id", "live-video").get_attribute("hidden") is not None
    assert session.get_log("browser") == []


def test_a_file_that_is_not_an_image_gets_one_line(live_site, session, tmp_path):
    open_live(session, Path(live_site["out"]), "live-0.html")
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    session.find_element("id", "live-upload").send_keys(str(bad))
    status = wait_for(
        session,
        "const t = document.getElementById('live-status').textContent;"
        "return t.startsWith('not an image') ? t : null",
        "report the file",
    )
    assert status == "not an image this browser can read: notes.png"
    assert session.get_log("browser") == []


def test_the_page_loads_nothing_from_the_network(live_site, session):
    requested_urls(session)  # forget the earlier pages' requests
    open_live(session, Path(live_site["out"]), "live-0.html")
    urls = requested_urls(session)
    assert any(u.endswith("/live-0.html") for u in urls), urls
    assert any(u.endswith("/assets/ort/ort-wasm.js") for u in urls), urls
    assert all(u.startswith(("file:", "blob:", "data:")) for u in urls), urls


def test_the_page_says_what_bench_measured_and_the_file_sizes(live_site):
    site = Path(live_site["out"])
    config = live.read_page_config(site / "live-0.html")
    for precision in live.PRECISIONS:
        facts = config["precisions"][precision]
        assert facts["bytes"] == (site / "live" / "0" / f"{precision}.onnx").stat().st_size
        assert facts["bench"]["status"] == "ok" and facts["bench"]["median_ms"] > 0
    record = open_source(live_site["checkpoints"][0]).record
    assert config["preprocess"]["native"] == config["preprocess"]["size"] == 28
    assert config["preprocess"]["mean"] == record["mean"] and record["name"] == "fashion-mnist"
    assert live.read_page_config(site / "live-1.html")["preprocess"]["size"] == 32


def test_a_missing_runtime_is_one_line(tmp_path, lenet5_checkpoint):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnzoo",
            "report",
            "--models",
            "lenet5",
            "--live",
            str(lenet5_checkpoint),
            "--ort-web",
            str(tmp_path / "nowhere"),
            "--out",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "onnxruntime-web" in lines[0] and "npm ci" in lines[0], done.stderr
    assert not (tmp_path / "s").exists()


def test_runtime_problems_name_the_missing_piece(tmp_path):
    (tmp_path / "package.json").write_text(json.dumps({"name": "left-pad", "version": "1.3.0"}))
    with pytest.raises(ValueError, match="holds 'left-pad', not onnxruntime-web"):
        live.find_runtime(tmp_path)
    (tmp_path / "package.json").write_text(json.dumps({"name": "onnxruntime-web", "version": "9"}))
    with pytest.raises(ValueError, match=r"onnxruntime-web 9 lacks dist/ort.wasm.bundle.min.mjs"):
        live.find_runtime(tmp_path)
    found = live.find_runtime(ORT_WEB)
    assert (
        found.version
        == json.loads((ROOT / "web" / "package.json").read_text())["dependencies"][
            "onnxruntime-web"
        ]
    )


def test_a_checkpoint_that_does_not_export_is_left_out_in_one_line(
    monkeypatch, tmp_path, lenet5_checkpoint
):
    from cnnzoo.export import command
    from cnnzoo.export.errors import UnsupportedModel

    def refuse(config, progress=None):
        raise UnsupportedModel("lenet5: the ONNX exporter has no rule for aten::frobnicate")

    monkeypatch.setattr(command, "export_model", refuse)
    lines = []
    pages, problems = read_live_pages(
        ReportConfig(live=(str(lenet5_checkpoint), str(tmp_path / "missing.pt"))),
        tmp_path,
        live.find_runtime(ORT_WEB),
        lines.append,
    )
    assert pages == [] and lines == problems and len(problems) == 2
    assert problems[0] == (
        f"--live {lenet5_checkpoint}: fp32 ONNX export failed: "
        "lenet5: the ONNX exporter has no rule for aten::frobnicate"
    )
    assert problems[1].startswith(f"--live {tmp_path / 'missing.pt'}: ")
    assert "\n" not in problems[1]


def test_script_of_never_closes_the_script_element():
    text = live.script_of("x", "</script><script>alert(1)</script>")
    assert "</script>" not in text and "<" not in text
    assert json.loads(text.split(" = ", 1)[1].rstrip(";\n")) == "</script><script>alert(1)</script>"


def test_preprocessing_follows_the_dataset_record(lenet5_checkpoint):
    source = open_source(str(lenet5_checkpoint))
    prep = live.preprocessing(source)
    record = source.record
    assert prep == {
        "mode": "L",
        "native": record["image_size"],
        "size": record["input_size"],
        "mean": list(record["mean"]),
        "std": list(record["std"]),
    }
    torch.testing.assert_close(torch.tensor(prep["mean"]), torch.tensor(record["mean"]))


def test_the_command_prints_a_line_per_live_page(monkeypatch, live_site):
    from cnnzoo.report import command

    monkeypatch.setattr(command, "build_report", lambda *args, **kwargs: live_site)
    lines, code = command.run_report(ReportConfig(), print)
    assert code == 0 and len(lines) == 3
    first = live_site["live"][0]
    assert lines[1] == (
        f"live page live-0.html: lenet5 ({live_site['checkpoints'][0]}), "
        f"fp32 {first['bytes']['fp32'] / 2**20:.2f} MiB and int8 "
        f"{first['bytes']['int8'] / 2**20:.2f} MiB; cnnzoo bench, ONNX Runtime on 1 thread: "
        f"{first['bench_ms']['fp32']:.2f} / {first['bench_ms']['int8']:.2f} ms"
    )
