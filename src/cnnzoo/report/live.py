"""``cnnzoo report --live``: a trained checkpoint's network running in the report's own page.

For each checkpoint, :func:`read_live` exports the network to ONNX twice with ``cnnzoo export``
(fp32 with the feature maps of a few layers as extra outputs, and int8 calibrated on the
checkpoint's own training images), measures the checkpoint with ``cnnzoo bench``'s ONNX Runtime
(bench's own exports, logits only) at batch 1 on one thread, as the page runs, and describes
the test-time preprocessing of the checkpoint's dataset record (:func:`preprocessing`). The page
(``templates/live.html``, ``static/live.js``) runs both files in the browser with ONNX Runtime's
WebAssembly build, on a drawing, an uploaded image or the camera.

Everything the page loads is a classic ``<script>`` beside it: a page opened from a file
(``file://``) may not fetch or import its neighbours, but it may load scripts. So the runtime's
JavaScript module is written as a string the page imports from a ``blob:`` URL, and its
WebAssembly and the two ONNX files as base64 text (:func:`write_runtime`, :func:`script_of`).
Nothing is fetched from anywhere when the page is viewed.

The runtime is the npm package ``onnxruntime-web`` at the version ``web/package.json`` pins,
installed by the set-up into ``web/node_modules`` (``--ort-web`` points elsewhere).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from cnnzoo.files import write_text_atomic

RUNTIME_PACKAGE = "onnxruntime-web"
# The WebAssembly build alone (no WebGPU/WebGL): its module with the loader inlined, and its binary.
RUNTIME_FILES = {
    "module": "dist/ort.wasm.bundle.min.mjs",
    "wasm": "dist/ort-wasm-simd-threaded.wasm",
}
RUNTIME_SCRIPTS = {"module": "assets/ort/ort-module.js", "wasm": "assets/ort/ort-wasm.js"}
INSTALL = "npm ci --prefix web (scripts/setup.sh runs it)"
PRECISIONS = ("fp32", "int8")
BENCH_ROUNDS = 10  # cnnzoo bench's timed rounds for the figure shown beside the page's own
JUDGE_IMAGES = 1_000  # test images on which bench checks int8 before timing it
MAX_MAPS = 4  # stage ends whose feature maps the page draws (the fp32 file's extra outputs)
# The page runs one thread: a page opened from a file is not cross-origin isolated, so it has no
# shared memory for more; cnnzoo bench's figure beside it is measured alike.
BENCH_THREADS = 1


class LiveError(ValueError):
    """A checkpoint that cannot get a live page (the message names it and why)."""


@dataclass(frozen=True)
class WebRuntime:
    """The browser runtime found on disk: its version and the files the page needs."""

    version: str
    files: dict[str, Path]


def find_runtime(folder: str | Path) -> WebRuntime:
    """The ``onnxruntime-web`` package in ``folder``.

    Raises:
        ValueError: one line naming what is missing and how to install it.
    """
    folder = Path(folder)
    manifest = folder / "package.json"
    if not manifest.is_file():
        raise ValueError(
            f"--live needs the npm package {RUNTIME_PACKAGE}, not found in {folder}: run {INSTALL}"
            ", or give --ort-web DIR"
        )
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"--ort-web {folder}: package.json is not JSON ({err})") from None
    if meta.get("name") != RUNTIME_PACKAGE:
        raise ValueError(f"--ort-web {folder}: holds {meta.get('name')!r}, not {RUNTIME_PACKAGE}")
    files = {key: folder / name for key, name in RUNTIME_FILES.items()}
    missing = [name for key, name in RUNTIME_FILES.items() if not files[key].is_file()]
    if missing:
        raise ValueError(
            f"--ort-web {folder}: {RUNTIME_PACKAGE} {meta.get('version')} lacks "
            f"{', '.join(missing)}: run {INSTALL}"
        )
    return WebRuntime(str(meta.get("version", "?")), files)


def script_of(variable: str, value) -> str:
    """A classic script that sets ``window[variable]`` to ``value`` (JSON), safe inside HTML."""
    text = json.dumps(value).replace("<", "\\u003c")  # never a "</script>" in the file
    return f"window[{json.dumps(variable)}] = {text};\n"


def write_runtime(runtime: WebRuntime, site: Path) -> dict[str, str]:
    """The runtime's module (as text) and WebAssembly (as base64) written as scripts into
    ``site``; their paths, relative to the site."""
    module = runtime.files["module"].read_text(encoding="utf-8")
    wasm = base64.b64encode(runtime.files["wasm"].read_bytes()).decode("ascii")
    write_text_atomic(site / RUNTIME_SCRIPTS["module"], script_of("cnnzooOrtModule", module))
    write_text_atomic(site / RUNTIME_SCRIPTS["wasm"], script_of("cnnzooOrtWasm", wasm))
    return dict(RUNTIME_SCRIPTS)


def preprocessing(source) -> dict:
    """The test-time preprocessing of an image file for the checkpoint ``source`` (a
    :class:`~cnnzoo.source.Source`), from its dataset record, as data for the page: what
    :func:`cnnzoo.data.image_transform` (``cnnzoo predict``'s) does.

    Returns:
        ``mode``: Pillow's ``L`` (grey: ITU-R 601-2 luma, in integers) or ``RGB``; ``native``:
        the side the image is first resized to (Pillow's bilinear filter on 8-bit pixels);
        ``mean`` and ``std``: then ``(x / 255 - mean) / std`` per channel; ``size``: the side
        the network takes, reached from ``native`` by torch's antialiased bilinear resize in
        floating point where the two differ.

    Raises:
        LiveError: an image-folder checkpoint (its resize-and-crop is not in the page yet).
    """
    from cnnzoo.data.imagefolder import image_mode

    info = source.info()
    if info.name == "imagefolder":
        raise LiveError("an image-folder checkpoint's resize-and-crop is not in the live page yet")
    return {
        "mode": image_mode(info),
        "native": info.image_size,
        "size": source.record["input_size"],
        "mean": list(info.mean),
        "std": list(info.std),
    }


@dataclass(frozen=True)
class LivePage:
    """What one live page shows.

    Args:
        page: its file name in the site.
        title: its heading.
        source: the checkpoint it was made from.
        model: the network's registry name.
        facts: ``(label, value)`` lines (dataset, input, test top-1, runtime).
        config: what ``live.js`` reads (:func:`page_config`).
        scripts: the site-relative scripts the page loads, in order.
        files: per precision, the ONNX file's site-relative path and bytes.
    """

    page: str
    title: str
    source: str
    model: str
    facts: tuple[tuple[str, str], ...]
    config: dict
    scripts: tuple[str, ...]
    files: dict[str, dict]


def map_layers(source) -> list:
    """The layers whose feature maps the page draws: the first :data:`MAX_MAPS` stage ends that
    are still maps (more than one pixel), as ``cnnzoo inspect`` finds them."""
    from cnnzoo.inside.layers import find_layers, stage_ends

    ends = stage_ends(source.model, find_layers(source.model, source.input))
    return [layer for layer in ends if layer.shape[1] * layer.shape[2] > 1][:MAX_MAPS]


def export_pair(checkpoint: str, folder: Path, feature_maps: tuple[str, ...]) -> dict[str, Path]:
    """``checkpoint`` exported to ONNX by ``cnnzoo export`` into ``folder``: in fp32 with the
    ``feature_maps`` as extra outputs, and in int8 (calibrated on its own training images).

    Raises:
        LiveError: the network does not export, or the export tools are missing (one line).
    """
    from cnnzoo.export.command import ExportConfig, export_model

    paths = {}
    for precision in PRECISIONS:
        out = folder / f"{precision}.onnx"
        fp32 = precision == "fp32"
        config = ExportConfig(
            model=checkpoint,
            format="onnx",
            quantize=None if fp32 else precision,
            feature_maps=feature_maps if fp32 else (),
            out=str(out),
        )
        try:
            paths[precision] = Path(export_model(config)["file"])
        except ValueError as err:
            raise LiveError(f"{precision} ONNX export failed: {err}") from None
    return paths


def bench_figures(checkpoint: str, rounds: int = BENCH_ROUNDS) -> dict[str, dict]:
    """``cnnzoo bench``'s ONNX Runtime latency of ``checkpoint``'s fp32 and int8 exports at batch
    1 on :data:`BENCH_THREADS` thread(s): per precision ``status``, ``median_ms``, ``reason``."""
    import dataclasses

    from cnnzoo.bench.core import bench_models, make_config

    config = make_config(
        [checkpoint],
        runtime="onnxruntime",
        precision=",".join(PRECISIONS),
        batch_size="1",
        threads=BENCH_THREADS,
        rounds=rounds,
    )
    record = bench_models(dataclasses.replace(config, judge_images=JUDGE_IMAGES))
    return {
        r["precision"]: {
            "status": r["status"],
            "median_ms": (r["latency_ms"] or {}).get("median"),
            "reason": r["reason"],
        }
        for r in record["results"]
    }


def page_config(
    source, prep: dict, files: dict[str, dict], bench: dict[str, dict], maps: list
) -> dict:
    """The JSON the page's script reads: the network's input and outputs (the logits, the fp32
    file's feature maps), the preprocessing, the class names, the model scripts' variables and
    ``cnnzoo bench``'s figures."""
    from cnnzoo.export.onnx import INPUT_NAME, MAP_PREFIX, OUTPUT_NAME

    return {
        "model": source.name,
        "input": list(source.input),
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "preprocess": prep,
        "classes": list(source.class_names()),
        "precisions": {
            p: {"variable": f"cnnzooModel_{p}", "bytes": files[p]["bytes"], "bench": bench.get(p)}
            for p in PRECISIONS
        },
        "bench_threads": BENCH_THREADS,
        "maps": [
            {"name": m.name, "output": f"{MAP_PREFIX}{m.name}", "shape": list(m.shape)}
            for m in maps
        ],
    }


CONFIG_ID = "live-config"  # the element of live.html (and live.js) that holds page_config's JSON


def read_page_config(page: Path) -> dict:
    """The JSON of :func:`page_config` as a written live page holds it (``templates/live.html``)."""
    html = Path(page).read_text(encoding="utf-8")
    return json.loads(html.split(f'id="{CONFIG_ID}">', 1)[1].split("</script>", 1)[0])


def read_live(checkpoint: str, site: Path, key: str, runtime: WebRuntime) -> LivePage:
    """Export, measure and write the files of ``checkpoint``'s live page into ``site``.

    Raises:
        LiveError: one line naming the checkpoint and what is wrong with it.
    """
    from cnnzoo.source import is_checkpoint, open_source

    where = f"--live {checkpoint}"
    if not is_checkpoint(checkpoint):
        raise LiveError(f"{where}: not a checkpoint of cnnzoo train (a .pt file)")
    try:
        source = open_source(checkpoint)
        prep = preprocessing(source)
        maps = map_layers(source)
        folder = site / "live" / key
        onnx = export_pair(checkpoint, folder, tuple(m.name for m in maps))
        bench = bench_figures(checkpoint)
    except ValueError as err:
        raise LiveError(f"{where}: {err}") from None
    files, scripts = {}, []
    for precision, path in onnx.items():
        script = folder / f"{precision}.js"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        write_text_atomic(script, script_of(f"cnnzooModel_{precision}", data))
        files[precision] = {
            "onnx": path.relative_to(site).as_posix(),
            "bytes": path.stat().st_size,
        }
        scripts.append(script.relative_to(site).as_posix())
    record = source.record
    c, h, w = source.input
    facts = [
        ("checkpoint", str(checkpoint)),
        ("network", source.name),
        ("dataset", f"{record['name']} ({record['num_classes']} classes)"),
        ("input", f"{c} x {h} x {w}"),
        ("runtime", f"{RUNTIME_PACKAGE} {runtime.version} (WebAssembly, one thread)"),
    ]
    return LivePage(
        page=f"live-{key}.html",
        title=f"{source.label} live",
        source=str(checkpoint),
        model=source.name,
        facts=tuple(facts),
        config=page_config(source, prep, files, bench, maps),
        scripts=(*RUNTIME_SCRIPTS.values(), *scripts),
        files=files,
    )


def live_summary(page: LivePage) -> dict:
    """What ``report.json`` and the command's output say of a live page: its file, checkpoint,
    model, and per precision the file's bytes and ``cnnzoo bench``'s median milliseconds."""
    precisions = page.config["precisions"]
    return {
        "page": page.page,
        "source": page.source,
        "model": page.model,
        "bytes": {p: precisions[p]["bytes"] for p in PRECISIONS},
        "bench_ms": {p: (precisions[p]["bench"] or {}).get("median_ms") for p in PRECISIONS},
    }
