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
        recipe_name: ``--recipe``, a named recipe (``cnnzoo.train.recipes.NAMED``) in place of
            the model's default one.
        epochs: passes over the training set.
        batch_size: images per optimizer step, over all processes together (each of ``K``
            processes takes ``batch_size / K``).
        optimizer: ``sgd`` (with momentum) or ``adamw``.
        lr: peak learning rate (after warm-up).
        momentum: SGD momentum, or AdamW's beta1.
        weight_decay: L2 penalty (SGD) or decoupled decay (AdamW).
        decay_norm_bias: apply the weight decay to the biases and the normalisation layers' scales
            and shifts too (every parameter of one dimension); off: to the weights of the
            convolutions and linear layers only.
        schedule: ``cosine``, ``step`` (the recipe's milestones) or ``onecycle``.
        warmup_epochs: linear warm-up from zero, in epochs (may be fractional).
        label_smoothing: of the training loss (the test loss is plain cross-entropy).
        nesterov: Nesterov momentum (SGD).
        crop_padding: random crops of the training images, padded by this many pixels (0: none).
        hflip: mirror training images left-right at random.
        alternate_flip: with ``hflip``, mirror each training image in every other epoch (a
            random half in the first) instead of at random in each.
        cutout: blank a random square of this side in each training image (0: none).
        small_size, small_epochs: progressive resizing: the training images are shrunk to
            ``small_size`` pixels a side for the first ``small_epochs`` epochs (0: never).
        ema_decay: evaluate and save an exponential moving average of the weights (and batch-norm
            statistics) with this decay per step (0: the weights as trained).
        ema_bn_batches: before each test pass, recompute the average's batch-norm statistics over
            this many training batches (0: its averaged statistics; no effect without an average).
        tta: test-time augmentation of the evaluations (``none`` or ``flip``), counted in the time.
        eval_every: evaluate (and write a metrics row, and maybe ``best.pt``) after every this
            many epochs, and after the last (0: after the last only).
        precision: ``fp32``, autocast to ``bf16`` / ``fp16`` (fp16 with a gradient scaler), or
            ``auto``: bf16 where the device has bf16 matrix instructions, else fp32.
        fp32_test: run the test passes (and the average's batch-norm refit) in fp32 whatever
            ``precision`` the training uses; off: in the training's precision.
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
    recipe_name: str | None = option(
        None,
        flag="--recipe",
        help="a named recipe",
        choices="cnnzoo.train.recipes:NAMED",
        default_help="the model's own recipe",
    )
    epochs: int | None = option(None, help="passes over the training set", default_help=RECIPE)
    batch_size: int | None = option(None, help="over all processes together", default_help=RECIPE)
    optimizer: str | None = option(
        None, help="", choices="cnnzoo.train.optim:OPTIMIZERS", default_help=RECIPE
    )
    lr: float | None = option(None, help="peak learning rate", default_help=RECIPE)
    momentum: float | None = option(None, help="SGD momentum or AdamW beta1", default_help=RECIPE)
    weight_decay: float | None = option(None, help="", default_help=RECIPE)
    decay_norm_bias: bool | None = option(
        None, help="weight decay on biases and norm parameters too", default_help=RECIPE
    )
    schedule: str | None = option(
        None, help="", choices="cnnzoo.train.optim:SCHEDULES", default_help=RECIPE
    )
    warmup_epochs: float | None = option(None, help="linear warm-up", default_help=RECIPE)
    label_smoothing: float | None = option(None, help="", default_help=RECIPE)
    nesterov: bool | None = option(None, help="Nesterov momentum (SGD)", default_help=RECIPE)
    crop_padding: int | None = option(
        None, help="random crops, padded by N pixels (0: none)", default_help=RECIPE
    )
    hflip: bool | None = option(None, help="random mirror images", default_help=RECIPE)
    alternate_flip: bool | None = option(
        None,
        help="with --hflip: mirror each image in every other epoch (a random half in the first)",
        default_help=RECIPE,
    )
    cutout: int | None = option(
        None, help="blank a random N x N square of each image (0: none)", default_help=RECIPE
    )
    small_size: int | None = option(
        None, help="shrink the training images to N pixels for --small-epochs", default_help=RECIPE
    )
    small_epochs: float | None = option(
        None, help="epochs at --small-size (0: none)", default_help=RECIPE
    )
    ema_decay: float | None = option(
        None, help="evaluate a moving average of the weights (0: off)", default_help=RECIPE
    )
    ema_bn_batches: int | None = option(
        None,
        help="recompute the average's batch-norm statistics over N training batches before "
        "each test pass (0: the averaged ones)",
        default_help=RECIPE,
    )
    tta: str | None = option(
        None, help="test-time augmentation", choices="cnnzoo.evaluate.loop:TTA", default_help=RECIPE
    )
    eval_every: int | None = option(
        None,
        help="evaluate after every N epochs and the last (0: the last only)",
        default_help=RECIPE,
    )
    precision: str | None = option(
        None,
        help="autocast precision",
        choices="cnnzoo.train.build:PRECISIONS",
        default_help=RECIPE,
    )
    fp32_test: bool | None = option(
        None, help="test passes in fp32 whatever --precision", default_help=RECIPE
    )
    channels_last: bool | None = option(None, help="NHWC memory format", default_help=RECIPE)
    compile: bool | None = option(None, help="wrap the model in torch.compile", default_help=RECIPE)
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
        require(self.crop_padding is None or self.crop_padding >= 0, "--crop-padding must be >= 0")
        require(self.cutout is None or self.cutout >= 0, "--cutout must be >= 0")
        require(self.eval_every is None or self.eval_every >= 0, "--eval-every must be >= 0")
        require(self.small_size is None or self.small_size >= 0, "--small-size must be >= 0")
        require(self.small_epochs is None or self.small_epochs >= 0, "--small-epochs must be >= 0")
        require(self.ema_decay is None or 0 <= self.ema_decay < 1, "--ema-decay must be in [0, 1)")
        require(
            self.ema_bn_batches is None or self.ema_bn_batches >= 0, "--ema-bn-batches must be >= 0"
        )
        check_choices(self)

    def unresolved(self) -> list[str]:
        """Names of the fields still ``None`` that a recipe must fill."""
        optional = {"data_dir", "recipe_name", "subset", "input_size", "out", "model_kwargs"}
        optional |= {"crop_padding", "hflip"}  # a recipe may leave them to the dataset's default
        return [
            f.name for f in fields(self) if getattr(self, f.name) is None and f.name not in optional
        ]
