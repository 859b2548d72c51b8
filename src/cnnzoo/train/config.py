"""The configurations of ``cnnzoo train``, ``eval`` and ``predict``: frozen dataclasses whose fields
are the command-line flags, one to one (``--batch-size`` is ``batch_size``).

A training field left at ``None`` is filled from the model's default recipe by
:func:`cnnzoo.train.recipes.resolve`; the resolved configuration is what a run saves in
``config.json`` and in its checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

OPTIMIZER_NAMES = ("sgd", "adamw")
SCHEDULE_NAMES = ("cosine", "step", "onecycle")
PRECISIONS = ("fp32", "bf16", "fp16")
TTA_NAMES = ("none", "flip", "10crop")
FORMATS = ("text", "json")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class TrainConfig:
    """``cnnzoo train MODEL [flags]``; ``None`` means "from the recipe".

    Args:
        model: a name from ``cnnzoo list``.
        dataset: a dataset name (``cnnzoo.data.DATASETS``).
        data_dir: where the dataset's files are; default: the dataset's standard place.
        epochs: passes over the training set.
        batch_size: images per optimizer step, over all processes together (each of ``K``
            processes takes ``batch_size / K``).
        optimizer: ``sgd`` (with momentum) or ``adamw``.
        lr: peak learning rate (after warm-up).
        momentum: SGD momentum, or AdamW's beta1.
        weight_decay: L2 penalty (SGD) or decoupled decay (AdamW), on every parameter.
        schedule: ``cosine``, ``step`` (the recipe's milestones) or ``onecycle``.
        warmup_epochs: linear warm-up from zero, in epochs (may be fractional).
        label_smoothing: of the training loss (the test loss is plain cross-entropy).
        precision: ``fp32``, or autocast to ``bf16`` / ``fp16`` (fp16 with a gradient scaler).
        channels_last: NHWC memory format for the model and the batches.
        compile: wrap the model in ``torch.compile``.
        seed: seeds the weights, the shuffling and the augmentation.
        subset: train on the first ``N`` training images only (the test split stays whole).
        input_size: resize the images to this side (for models that need larger inputs).
        out: run folder; default ``runs/<model>-<dataset>-<time>``.
        resume: continue the run in ``out`` (default: the newest matching run) from ``last.pt``.
        deterministic: deterministic kernels only (bitwise-reproducible on CPU).
        checkpoint_every: also write ``last.pt`` every this many steps (0: at epoch ends only).
        model_kwargs: builder options of ``model`` as plain data (a NASNet's genotype, N and P:
            ``cnnzoo nas train`` sets them); the checkpoint records them.
    """

    model: str
    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    schedule: str | None = None
    warmup_epochs: float | None = None
    label_smoothing: float | None = None
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    seed: int = 0
    subset: int | None = None
    input_size: int | None = None
    out: str | None = None
    resume: bool = False
    deterministic: bool = False
    checkpoint_every: int = 200
    model_kwargs: dict | None = None

    def __post_init__(self) -> None:
        positive = ("epochs", "batch_size", "subset", "input_size")
        for name in positive:
            value = getattr(self, name)
            _check(value is None or value > 0, f"--{name.replace('_', '-')} must be positive")
        _check(self.lr is None or self.lr > 0, "--lr must be positive")
        _check(self.momentum is None or 0 <= self.momentum < 1, "--momentum must be in [0, 1)")
        _check(self.weight_decay is None or self.weight_decay >= 0, "--weight-decay must be >= 0")
        _check(
            self.warmup_epochs is None or self.warmup_epochs >= 0, "--warmup-epochs must be >= 0"
        )
        _check(
            self.label_smoothing is None or 0 <= self.label_smoothing < 1,
            "--label-smoothing must be in [0, 1)",
        )
        _check(self.checkpoint_every >= 0, "--checkpoint-every must be >= 0")
        for name, choices in (
            ("optimizer", OPTIMIZER_NAMES),
            ("schedule", SCHEDULE_NAMES),
            ("precision", PRECISIONS),
        ):
            value = getattr(self, name)
            _check(
                value is None or value in choices,
                f"--{name} must be one of {', '.join(choices)} (got {value!r})",
            )

    def unresolved(self) -> list[str]:
        """Names of the fields still ``None`` that a recipe must fill."""
        optional = {"data_dir", "subset", "input_size", "out", "model_kwargs"}
        return [
            f.name for f in fields(self) if getattr(self, f.name) is None and f.name not in optional
        ]


@dataclass(frozen=True)
class EvalConfig:
    """``cnnzoo eval CHECKPOINT [flags]``.

    Args:
        checkpoint: a ``.pt`` file written by ``cnnzoo train``.
        dataset: evaluate on this dataset instead of the checkpoint's (same classes and channels).
        data_dir: where the dataset's files are; default: the one recorded in the checkpoint.
        tta: test-time augmentation: ``none``, ``flip`` (average with the mirror image) or
            ``10crop`` (four corners and centre of an 8/7 enlargement, and their mirrors).
        format: ``text`` or ``json`` on standard output.
        batch_size: images per forward pass.
        out: path of the confusion-matrix PNG; default beside the checkpoint.
    """

    checkpoint: str
    dataset: str | None = None
    data_dir: str | None = None
    tta: str = "none"
    format: str = "text"
    batch_size: int = 500
    out: str | None = None

    def __post_init__(self) -> None:
        _check(self.tta in TTA_NAMES, f"--tta must be one of {', '.join(TTA_NAMES)}")
        _check(self.format in FORMATS, f"--format must be one of {', '.join(FORMATS)}")
        _check(self.batch_size > 0, "--batch-size must be positive")


@dataclass(frozen=True)
class PredictConfig:
    """``cnnzoo predict CHECKPOINT IMAGE...``.

    Args:
        checkpoint: a ``.pt`` file written by ``cnnzoo train``.
        images: image files (anything Pillow reads); converted to the checkpoint's channels,
            resized and normalised as its dataset was.
        topk: how many classes to show per image.
        format: ``text`` or ``json`` on standard output.
    """

    checkpoint: str
    images: tuple[str, ...]
    topk: int = 5
    format: str = "text"

    def __post_init__(self) -> None:
        _check(len(self.images) > 0, "give at least one image")
        _check(self.topk > 0, "--topk must be positive")
        _check(self.format in FORMATS, f"--format must be one of {', '.join(FORMATS)}")
