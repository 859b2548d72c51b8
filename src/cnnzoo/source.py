"""The one door to a model: every tool turns what the user named into a :class:`Source` here.

A source is named three ways:

- a model name of the registry: random weights (seeded), the paper's input;
- a checkpoint of ``cnnzoo train`` (a path; :func:`is_checkpoint`): the model it records, its
  dataset's classes, normalisation and input size;
- a model name with ``weights``: local torchvision or timm weights of that network (loaded with
  ``strict=True``) with the paper's classes and channels; an ImageNet network's are taken for
  published ImageNet weights: the 1000 class names and the test-time preprocessing they were
  published with (:func:`weights_preset`).

Whatever the source, the tools use only the model contract (``forward_features``,
``forward_head``, ``num_features``, ``reset_classifier``, ``set_progress``) and :class:`Logits`,
the contract's logits as the one module that is traced, compiled and exported.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnzoo.checkpoint import CHECKPOINT_SUFFIXES, CheckpointError, load_checkpoint
from cnnzoo.data import DatasetInfo
from cnnzoo.data.imagefolder import EvalPreset
from cnnzoo.data.imagenet import IMAGENET_CLASSES, preset_of
from cnnzoo.models.timm_weights import TIMM_MAPPINGS
from cnnzoo.options import option
from cnnzoo.registry import REGISTRY, create_model


def weights_option(default_help: str = "random init"):
    """The ``--weights PATH`` field of every command that opens a source by name."""
    return option(
        None,
        help="local torchvision or timm weights of MODEL (loaded with strict=True)",
        metavar="PATH",
        default_help=default_help,
    )


WORDNET_ID = re.compile(r"n\d{8}")  # ImageNet's class folders are WordNet ids, e.g. n01440764


@dataclass(frozen=True)
class Source:
    """A ready model and what it takes.

    Args:
        model: the network, in eval mode, on ``device``.
        name: its registry name.
        label: how outputs name it: the model name, or ``run/best`` for a checkpoint (run folders
            tell apart checkpoints named alike).
        input: the ``(C, H, W)`` it is fed.
        record: the dataset record (``name``, ``num_classes``, ``in_chans``, ``image_size``,
            ``input_size``, ``class_names``, ``mean``, ``std``, ``data_dir``; for ImageNet
            weights also ``resize`` and ``interpolation``); ``None`` for random weights and for
            weights of a network of another dataset.
        origin: ``"checkpoint"``, ``"weights"`` or ``"random"``.
        path: the checkpoint or weights file.
    """

    model: nn.Module
    name: str
    label: str
    input: tuple[int, int, int]
    record: dict | None
    origin: str
    path: Path | None = None

    @property
    def trained(self) -> bool:
        return self.record is not None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def info(self) -> DatasetInfo:
        """The dataset the source was trained on (:class:`DatasetInfo` of its record)."""
        record = self.record or {}
        return DatasetInfo(
            name=record["name"],
            num_classes=record["num_classes"],
            in_chans=record["in_chans"],
            image_size=record["image_size"],
            class_names=tuple(record["class_names"]),
            mean=tuple(record["mean"]),
            std=tuple(record["std"]),
        )

    @property
    def own_data(self) -> dict | None:
        """The dataset record of a checkpoint, whose training and test images (calibration,
        judging) are at hand; ``None`` for published weights and random weights."""
        return self.record if self.origin == "checkpoint" else None

    def preset(self) -> EvalPreset | None:
        """The test-time preprocessing of image files for weights; ``None`` otherwise (the
        dataset's own)."""
        return preset_of(self.record) if self.origin == "weights" and self.record else None

    def read_images(self, paths) -> torch.Tensor:
        """Image files as one batch, preprocessed as the source's test images are (the weights'
        preset, or the dataset's test transform at the record's input size), read with
        :func:`cnnzoo.reading.read_image`: regular files only, of the format their name says;
        any other is a one-line ``ValueError`` naming it."""
        from cnnzoo.data import image_transform
        from cnnzoo.data.imagefolder import image_mode
        from cnnzoo.reading import read_image

        info = self.info()
        preset = self.preset()
        if preset is not None:
            transform = preset.transform()
        else:
            transform = image_transform(info, input_size=self.record["input_size"])
        mode = image_mode(info)
        return torch.stack([transform(read_image(path, mode)) for path in paths])

    def class_names(self) -> tuple[str, ...]:
        """Class names for display (WordNet ids of a 1000-class folder become ImageNet's)."""
        record = self.record or {}
        num = record.get("num_classes", self.model.num_classes)
        return readable_class_names(record.get("class_names", ()), num)

    def check_fits(self, info: DatasetInfo) -> None:
        """Raise a one-line ``ValueError`` unless ``info`` has the source's classes and channels
        (random weights were built for their dataset: :func:`open_source`'s ``dataset``)."""
        if self.record is not None:
            check_fits(self.record, info)


def check_fits(record: dict, info: DatasetInfo) -> None:
    """Raise a one-line ``ValueError`` unless the dataset has the record's classes and channels.

    Args:
        record: a source's dataset record (:attr:`Source.record`).
        info: the dataset to use it on.
    """
    if (info.num_classes, info.in_chans) != (record["num_classes"], record["in_chans"]):
        raise ValueError(
            f"{info.name} has {info.num_classes} classes of {info.in_chans}-channel images; "
            f"the checkpoint was trained on {record['num_classes']} classes of "
            f"{record['in_chans']}-channel images ({record['name']})"
        )


class Logits(nn.Module):
    """``forward_head(forward_features(x))`` of a zoo model as a module: its logits without the
    input check, the function that is traced, compiled, folded and exported."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_head(self.net.forward_features(x))


def is_checkpoint(text: str) -> bool:
    """Whether a ``MODEL|CHECKPOINT`` argument names a file rather than a registry name: not a
    model name, and a ``.pt``/``.pth`` name or an existing file."""
    return text not in REGISTRY and (
        Path(text).suffix in CHECKPOINT_SUFFIXES or Path(text).is_file()
    )


def default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 ImageNet class names in label order, from torchvision's offline weight metadata."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def readable_class_names(names, num_classes: int) -> tuple[str, ...]:
    """Class names for display: a 1000-class set named by WordNet ids gets the ImageNet names."""
    if num_classes == IMAGENET_CLASSES and (
        not names or all(WORDNET_ID.fullmatch(n) for n in names)
    ):
        return imagenet_class_names()
    return tuple(names) if names else tuple(str(i) for i in range(num_classes))


def weights_preset(name: str) -> EvalPreset:
    """The test-time preprocessing of published ImageNet weights of ``name``: torchvision's
    reference (resize to 8/7 of the crop, bilinear, ImageNet's statistics) for the networks
    torchvision has, timm's recorded one for those only timm has."""
    spec = REGISTRY[name]
    crop = spec.input_size[-1]
    timm = TIMM_MAPPINGS.get(name)
    if spec.torchvision_name is None and timm is not None:
        return EvalPreset.fraction(
            crop, timm.crop_fraction, interpolation=timm.interpolation, mean=timm.mean, std=timm.std
        )
    return EvalPreset.fraction(crop)


def weights_record(name: str) -> dict | None:
    """The dataset record of published weights of ``name``: ImageNet's, with the preprocessing
    of :func:`weights_preset`, for an ImageNet network; ``None`` for another (its dataset is not
    known)."""
    if REGISTRY[name].num_classes != IMAGENET_CLASSES:
        return None
    return {
        "name": "imagenet",
        "num_classes": IMAGENET_CLASSES,
        "in_chans": 3,
        "class_names": list(imagenet_class_names()),
        "data_dir": None,
        **weights_preset(name).record(),
    }


def label_of(path: Path) -> str:
    """``run/best`` for ``run/best.pt``: the run folder tells apart checkpoints named alike."""
    return f"{path.parent.name}/{path.stem}" if path.parent.name else path.stem


def from_checkpoint(path: Path) -> tuple[nn.Module, dict]:
    """The model a checkpoint records, with its weights (``strict=True``), and its dataset record.

    Raises:
        CheckpointError: unreadable, foreign or pickled-object file, or weights that do not fit.
    """
    ckpt = load_checkpoint(path)
    model = create_model(ckpt["model_name"], **ckpt["model_kwargs"])
    try:
        model.load_state_dict(ckpt["model"], strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise CheckpointError(f"checkpoint {str(path)!r} does not fit its model: {first}") from None
    return model, ckpt["dataset"]


def read_record(text: str, weights: str | None = None) -> dict | None:
    """The dataset record of a source, read without building its model: a checkpoint's, the
    ImageNet record of published weights, ``None`` for random weights."""
    if is_checkpoint(text):
        return load_checkpoint(text)["dataset"]
    return weights_record(text) if weights is not None else None


def check_input_size(model: nn.Module, name: str, info: DatasetInfo, size: int) -> None:
    """Raise a ``ValueError`` suggesting ``--input-size`` if ``model`` cannot take the images.

    Uses the model's ``fixed_input_sizes`` (the nearest one at or above ``size`` is suggested) or
    ``min_input_size``.
    """
    try:
        model.check_input(torch.empty(1, info.in_chans, size, size, device="meta"))
    except ValueError as err:
        fixed = getattr(model, "fixed_input_sizes", ())
        fits = min(fixed, key=lambda s: (s < size, abs(s - size))) if fixed else None
        fits = fits or model.min_input_size
        raise ValueError(
            f"{name} cannot take the {size}x{size} images of {info.name} ({err}); rerun with "
            f"--input-size {fits} to resize them"
        ) from None


def open_source(
    text: str,
    *,
    weights: str | None = None,
    input: tuple[int, int, int] | None = None,
    dataset: DatasetInfo | None = None,
    options: dict | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> Source:
    """The model ``text`` names, ready to use.

    Args:
        text: a registry name, or the path of a checkpoint of ``cnnzoo train``.
        weights: local torchvision or timm weights of the named model.
        input: the ``(C, H, W)`` to feed instead of the source's own.
        dataset: the dataset the source will be used on: random weights are built for it (its
            classes and channels, its image size), a trained source must fit it.
        options: builder options of the named model (random weights only).
        seed: the seed of random weights.
        device: where the model goes (:func:`default_device` for CUDA when present).

    Raises:
        ValueError: an unknown name, an unreadable or foreign checkpoint or weights file,
            weights given with a checkpoint, or an input the model does not take.
    """
    if is_checkpoint(text):
        if weights is not None:
            raise ValueError("--weights is for a model name; a checkpoint carries its weights")
        path = Path(text)
        model, record = from_checkpoint(path)
        side = record["input_size"]
        shape = (record["in_chans"], side, side)
        source = Source(model, model.model_name, label_of(path), shape, record, "checkpoint", path)
    elif weights is not None:
        path = Path(weights)
        model = create_model(text, weights=path)  # the paper's classes and channels
        record = weights_record(text)
        side = record["input_size"] if record else REGISTRY[text].input_size[-1]
        source = Source(model, text, text, (model.in_chans, side, side), record, "weights", path)
    else:
        spec = REGISTRY[text]  # an unknown name: one line with the closest names
        torch.manual_seed(seed)
        adapt = (
            {"num_classes": dataset.num_classes, "in_chans": dataset.in_chans} if dataset else {}
        )
        model = create_model(text, **(options or {}), **adapt)
        side = dataset.image_size if dataset else spec.input_size[-1]
        source = Source(model, text, text, (model.in_chans, side, side), None, "random")
    if input is not None:
        source = dataclasses.replace(source, input=tuple(input))
    if dataset is not None and source.origin == "random":
        check_input_size(source.model, text, dataset, source.input[-1])
    else:
        if dataset is not None and source.record is not None:
            check_fits(source.record, dataset)
        source.model.check_input(torch.zeros(1, *source.input))
    source.model.eval().to(device)
    return source
