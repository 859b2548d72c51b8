"""``cnnzoo inspect CHECKPOINT [IMAGES...]``: what a trained network sees, as figures and numbers.

One call of :func:`inspect` opens the checkpoint through :func:`cnnzoo.source.open_source` and
writes an output folder (:mod:`cnnzoo.outdir`: locked, marked, built aside and swapped in whole):

- ``filters.png``: the first convolution's filters;
- ``maps-<i>.png``: for each image (the files given, else ``--test-images`` seeded test images),
  the feature maps after each stage;
- ``top9-<layer>.png``: for each layer of ``--layers`` (default: the end of each stage), each
  channel's 9 strongest test images cropped to the channel's receptive field;
- ``evidence.png``: each image with its Grad-CAM, a gradient map (captum) and its top classes;
  ``cams.npy`` and ``gradients.npy``: those maps (``N x H x W``, float32);
- ``views.json``: the numbers behind them (predictions, top-9 images, values, positions and
  boxes, the layers and their receptive fields, timings), read back by
  :func:`cnnzoo.inside.views.read_views`.

Images are preprocessed as the checkpoint's test images were (its dataset record: channels,
input size, normalisation), image files read as ``cnnzoo predict`` reads them. Everything is
fixed by ``--seed``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cnnzoo.inside.compute import class_evidence, forward_with_maps, plan_layers, prediction_records
from cnnzoo.inside.drawing import write_figures
from cnnzoo.inside.evidence import GRADIENT_METHODS, check_captum
from cnnzoo.inside.images import sample, shown_images, test_images
from cnnzoo.inside.topk import K, top_images
from cnnzoo.inside.views import Views, seconds_record, views_record, write_views
from cnnzoo.options import check_choices, count_or_all, count_text, option, require
from cnnzoo.outdir import owned
from cnnzoo.progress import Progress
from cnnzoo.source import Source, default_device, is_checkpoint, open_source

RUNS = Path("runs")
TOP_FROM = 1000  # test images ranked for the top-9 views by default: seconds on a CPU


@dataclass(frozen=True)
class InspectConfig:
    """``cnnzoo inspect CHECKPOINT [IMAGES...]``.

    Attributes:
        checkpoint: a checkpoint of ``cnnzoo train``.
        images: image files to show (feature maps, evidence, predictions); default: seeded
            test images.
        test_images: how many seeded test images to show when no files are given.
        layers: the layers whose channels get their top-9 images (module paths as ``cnnzoo
            summary`` names them); default: the end of each stage.
        top_from: test images ranked for the top-9 views (a seeded sample), ``None`` for all.
        channels: channels of each layer drawn in its top-9 figure (``views.json`` has all).
        gradient: the pixel-attribution method beside Grad-CAM.
        seed: the test images shown and the sample ranked.
        data_dir: the dataset's folder; default: the checkpoint's.
        batch_size: images per forward pass.
        out: the output folder; default ``runs/inspect-<run>``.
        force: replace an ``out`` folder of files that cnnzoo did not write.
    """

    checkpoint: str = option(help="a .pt checkpoint of `cnnzoo train`", metavar="CHECKPOINT")
    images: tuple[str, ...] = option(
        (),
        help="image files to show",
        nargs="*",
        metavar="IMAGE",
        positional=True,
        default_help="--test-images seeded test images",
    )
    test_images: int = option(
        4, help="seeded test images shown when no IMAGE is given", metavar="N"
    )
    layers: tuple[str, ...] = option(
        (),
        help="layers whose channels get their top-9 test images",
        nargs="+",
        metavar="NAME",
        default_help="the end of each stage",
    )
    top_from: int | None = option(
        TOP_FROM,
        help="test images ranked for the top-9 views, a seeded sample",
        metavar="N|all",
        parse=count_or_all("--top-from"),
        text=count_text,
    )
    channels: int = option(16, help="channels per layer drawn in a top-9 figure", metavar="N")
    gradient: str = option(
        "integrated-gradients",
        help="the gradient method beside Grad-CAM (captum)",
        choices=GRADIENT_METHODS,
    )
    seed: int = option(0, help="the test images shown and the sample ranked")
    data_dir: str | None = option(
        None, help="folder with the dataset's files", default_help="the checkpoint's"
    )
    batch_size: int = option(256, help="images per forward pass")
    out: str | None = option(None, help="", metavar="DIR", default_help="runs/inspect-<run>")
    force: bool = option(False, help="replace --out even if it holds files cnnzoo did not write")

    def __post_init__(self) -> None:
        check_choices(self)
        require(self.test_images > 0, "--test-images must be positive")
        require(self.top_from is None or self.top_from >= 1, "--top-from must be positive")
        require(self.channels > 0, "--channels must be positive")
        require(self.batch_size > 0, "--batch-size must be positive")


def open_checkpoint(text: str) -> Source:
    """The checkpoint's source, on the default device.

    Raises:
        ValueError: a model name, or a file that is not a readable checkpoint (one line).
    """
    if not is_checkpoint(text):
        raise ValueError(
            f"{text!r} is not a checkpoint: give the best.pt or last.pt of a `cnnzoo train` run"
        )
    return open_source(text, device=default_device())


def default_out(source: Source) -> Path:
    """``runs/inspect-<run folder>`` (``run/best`` -> ``inspect-run``)."""
    run = source.path.parent.name or source.path.stem
    return RUNS / f"inspect-{run}"


@contextlib.contextmanager
def published(out: Path, force: bool) -> Iterator[Path]:
    """A staging folder swapped in as ``out`` when the block ends (:mod:`cnnzoo.outdir`)."""
    with owned(out, "inspect", force=force) as folder, folder.staged() as stage:
        yield stage


def output_folder(
    out: Path, into: Path | None, force: bool
) -> contextlib.AbstractContextManager[Path]:
    """Where the files go: ``into`` as it is (its caller owns it), else ``out`` published."""
    return contextlib.nullcontext(into) if into is not None else published(out, force)


def tell(progress: Progress | None, what: str) -> None:
    """Tell ``progress`` (if any) that ``what`` is being computed."""
    if progress:
        progress(what, 0, 1)


def inspect(
    config: InspectConfig, progress: Progress | None = None, *, into: Path | None = None
) -> dict:
    """Write the views of ``config.checkpoint`` to the output folder (see the module docstring).

    Args:
        config: what to show.
        progress: told what is being computed.
        into: write the files straight into this folder, which the caller owns (``cnnzoo
            report`` builds its site this way), instead of publishing ``config.out``.

    Returns:
        The content of ``views.json``, with ``out``.

    Raises:
        ValueError: bad input in one line: a model name or a checkpoint that does not load, an
            image file that is not an image, an unknown layer (the line lists the layers), a
            network without a layer to show.
    """
    check_captum()
    marks = [time.perf_counter()]
    source = open_checkpoint(config.checkpoint)
    model, names = source.model, list(source.class_names())
    plan = plan_layers(source, config.layers)
    test = test_images(source, config.data_dir, config.batch_size)
    shown = shown_images(source, test, config.images, config.test_images, config.seed, names)
    marks.append(time.perf_counter())

    tell(progress, "feature maps and predictions")
    probs, maps = forward_with_maps(model, shown.images, plan.stages)
    predictions = prediction_records(probs, shown, names)
    marks.append(time.perf_counter())

    tell(progress, "class evidence")
    targets = probs.argmax(1).to(source.device)
    cams, gradients = class_evidence(model, plan.cam, shown.images, targets, config.gradient)
    marks.append(time.perf_counter())

    ranked = sample(len(test), config.top_from, config.seed)
    tell(progress, f"top-{K} images of {len(ranked):,} test images")
    tops = top_images(model, plan.chosen, test.indexed(ranked))
    marks.append(time.perf_counter())

    views = Views(shown, predictions, maps, cams, gradients, tops, len(ranked))
    out = into or (Path(config.out) if config.out else default_out(source))
    with output_folder(out, into, config.force) as stage:
        tell(progress, "figures")
        files = write_figures(stage, views, plan, source, test, config.channels, config.gradient)
        marks.append(time.perf_counter())
        record = views_record(
            source, names, config.seed, config.gradient, plan, views, seconds_record(marks), files
        )
        write_views(stage, record)
    return {**record, "out": str(out)}


def summary_lines(views: dict) -> list[str]:
    """What ``cnnzoo inspect`` prints: the predictions, the layers ranked, the time, the folder."""
    lines = []
    for image in views["images"]:
        best = image["top"][0]
        lines.append(f"{image['name']}: {best['class']} {best['probability']:.1%}")
    lines.append(
        f"top-{K} images of {views['top_from']:,} test images for "
        + ", ".join(f"{name} ({len(channels)} channels)" for name, channels in views["top"].items())
    )
    sec = views["seconds"]
    lines.append(
        f"{views['model']}: maps {sec['maps']:.1f} s, evidence {sec['evidence']:.1f} s, "
        f"top-{K} {sec['top']:.1f} s, figures {sec['figures']:.1f} s, total {sec['total']:.1f} s"
    )
    lines.append(f"wrote {views['out']}")
    return lines
