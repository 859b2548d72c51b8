"""The configuration of ``cnnzoo train``: a frozen dataclass whose fields are the command-line
flags, one to one (``--batch-size`` is ``batch_size``).

A training field left at ``None`` is filled from the model's default recipe by
:func:`cnnzoo.train.recipes.resolve`; the resolved configuration is what a run saves in
``config.json`` and in its checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from cnnzoo.options import check_choices, option, require

RECIPE = "from the model's recipe"


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

    model: str = option(help="a model name (see `cnnzoo list`)")
    dataset: str = option("fashion-mnist", help="dataset name")
    data_dir: str | None = option(
        None, help="folder with the dataset's files", default_help="the dataset's standard place"
    )
    epochs: int | None = option(None, help="passes over the training set", default_help=RECIPE)
    batch_size: int | None = option(None, help="over all processes together", default_help=RECIPE)
    optimizer: str | None = option(
        None, help="", choices="cnnzoo.train.optim:OPTIMIZERS", default_help=RECIPE
    )
    lr: float | None = option(None, help="peak learning rate", default_help=RECIPE)
    momentum: float | None = option(None, help="SGD momentum or AdamW beta1", default_help=RECIPE)
    weight_decay: float | None = option(None, help="", default_help=RECIPE)
    schedule: str | None = option(
        None, help="", choices="cnnzoo.train.optim:SCHEDULES", default_help=RECIPE
    )
    warmup_epochs: float | None = option(None, help="linear warm-up", default_help=RECIPE)
    label_smoothing: float | None = option(None, help="", default_help=RECIPE)
    precision: str = option(
        "fp32", help="autocast precision", choices="cnnzoo.train.build:AMP_DTYPES"
    )
    channels_last: bool = option(False, help="NHWC memory format")
    compile: bool = option(False, help="wrap the model in torch.compile")
    seed: int = option(0, help="seeds the weights, the shuffling and the augmentation")
    subset: int | None = option(
        None,
        help="train on the first N training images only (tests on all)",
        default_help="all of them",
    )
    input_size: int | None = option(
        None, help="resize the images to this side", default_help="the dataset's side"
    )
    out: str | None = option(None, help="run folder", default_help="runs/<model>-<dataset>-<time>")
    resume: bool = option(
        False, help="continue the run in --out (or the newest matching run) from last.pt"
    )
    deterministic: bool = option(False, help="deterministic kernels (bitwise-reproducible on CPU)")
    checkpoint_every: int = option(
        200, help="also save last.pt every N steps, 0 = at epoch ends only"
    )
    model_kwargs: dict | None = None

    def __post_init__(self) -> None:
        positive = ("epochs", "batch_size", "subset", "input_size")
        for name in positive:
            value = getattr(self, name)
            require(value is None or value > 0, f"--{name.replace('_', '-')} must be positive")
        require(self.lr is None or self.lr > 0, "--lr must be positive")
        require(self.momentum is None or 0 <= self.momentum < 1, "--momentum must be in [0, 1)")
        require(self.weight_decay is None or self.weight_decay >= 0, "--weight-decay must be >= 0")
        require(
            self.warmup_epochs is None or self.warmup_epochs >= 0, "--warmup-epochs must be >= 0"
        )
        require(
            self.label_smoothing is None or 0 <= self.label_smoothing < 1,
            "--label-smoothing must be in [0, 1)",
        )
        require(self.checkpoint_every >= 0, "--checkpoint-every must be >= 0")
        check_choices(self)

    def unresolved(self) -> list[str]:
        """Names of the fields still ``None`` that a recipe must fill."""
        optional = {"data_dir", "subset", "input_size", "out", "model_kwargs"}
        return [
            f.name for f in fields(self) if getattr(self, f.name) is None and f.name not in optional
        ]
