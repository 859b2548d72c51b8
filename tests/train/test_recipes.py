"""Named recipes and the options they combine: Nesterov momentum, cutout, progressive resizing, an
averaged copy of the weights, test-time flips, ``--precision auto``; all of them together on a
subset (no timing: the speed is measured by benchmarks/fashion_mnist_speedrun.py)."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import replace

import pytest
import torch
from torch import nn

from cnnzoo.checkpoint import load_checkpoint
from cnnzoo.data import BatchStream, DatasetInfo, Split
from cnnzoo.data.stream import DEFAULT_AUGMENT, Augment, cutout_mask
from cnnzoo.distributed import Runtime
from cnnzoo.evaluate.loop import evaluate
from cnnzoo.registry import create_model
from cnnzoo.runlog import read_metrics_csv
from cnnzoo.train import TrainConfig, run, train_one_epoch
from cnnzoo.train import build as build_module
from cnnzoo.train.build import auto_precision, build_average
from cnnzoo.train.engine import Trainer, shrink
from cnnzoo.train.optim import decay_groups, make_sgd
from cnnzoo.train.recipes import NAMED, RECIPE_FIELDS, Recipe, recipe_for

INFO = DatasetInfo("fake", 10, 1, 28, tuple("abcdefghij"), (0.5,), (0.25,))


def test_a_named_recipe_replaces_the_models_own_and_sets_every_recipe_field():
    speed = NAMED["fashion-mnist-94"]
    assert recipe_for("resnet20", "resnet", "fashion-mnist", small_images=True, name=None) != speed
    assert (
        recipe_for("lenet5", "lenet", "mnist", small_images=True, name="fashion-mnist-94") is speed
    )
    assert set(RECIPE_FIELDS) <= {f.name for f in dataclasses.fields(Recipe)}
    assert set(RECIPE_FIELDS) <= {f.name for f in dataclasses.fields(TrainConfig)}


def test_cutout_mask_is_a_square_clipped_at_the_border():
    centres = torch.tensor([[10, 10], [0, 27], [5, 20]])
    mask = cutout_mask(centres, 8, 28)
    assert mask.shape == (3, 1, 28, 28)
    assert mask[0].sum() == 64 and mask[0, 0, 6:14, 6:14].all()  # rows and columns 6 .. 13
    assert mask[1].sum() == 4 * 5  # rows 0 .. 3 and columns 23 .. 27 are inside the image
    assert not mask[2, 0, :, :16].any() and mask[2, 0, 1:9, 16:24].all()


def test_the_stream_blanks_one_square_per_image_to_the_mean_and_repeats_it():
    images = torch.full((64, 1, 28, 28), 200, dtype=torch.uint8)
    split = Split(images, torch.arange(64) % 10)
    stream = BatchStream(
        split, INFO, batch_size=16, train=True, seed=3, device="cpu", augment=Augment(cutout=6)
    )
    first = torch.cat([x for x, _ in stream.epoch(0)])
    again = torch.cat([x for x, _ in stream.epoch(0)])
    assert torch.equal(first, again)  # a pure function of (seed, epoch)
    blank = (first == 0).sum(dim=(1, 2, 3))  # 0: the mean after normalisation
    assert blank.max() == 36 and blank.min() >= 9  # a 6 x 6 square, at least 3 x 3 inside
    assert ((first == 0) | torch.isclose(first, first.max())).all()
    plain = BatchStream(split, INFO, batch_size=16, train=True, seed=3, device="cpu")
    assert not any((x == 0).any() for x, _ in plain.epoch(0))


class Shapes(nn.Module):
    """A tiny network that records the side of every batch it trains on."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4, 10)
        self.sides: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sides.append(x.shape[-1])
        return self.fc(self.conv(x).mean((2, 3)))

    def set_progress(self, progress: float) -> None:
        pass


def test_progressive_resizing_shrinks_the_batches_of_the_first_epochs_only():
    g = torch.Generator().manual_seed(0)
    split = Split(
        torch.randint(0, 256, (64, 1, 28, 28), generator=g, dtype=torch.uint8),
        torch.arange(64) % 10,
    )
    stream = BatchStream(
        split, INFO, batch_size=16, train=True, seed=0, device="cpu", channels_last=True
    )
    net = Shapes()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    trainer = Trainer(
        net=net,
        stream=stream,
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0),
        scaler=torch.amp.GradScaler("cpu", enabled=False),
        criterion=nn.CrossEntropyLoss(),
        runtime=Runtime(),
        epochs=2,
        small=(20, 1.5),  # all of epoch 1, half of epoch 2
    )
    train_one_epoch(trainer, 0)
    train_one_epoch(trainer, 1)
    assert net.sides == [20] * 4 + [20, 20, 28, 28]
    x = torch.rand(2, 3, 28, 28).contiguous(memory_format=torch.channels_last)
    small = shrink(x, 14)
    assert small.shape == (2, 3, 14, 14) and small.is_contiguous(memory_format=torch.channels_last)


def test_the_average_follows_the_weights_with_its_decay_and_starts_as_a_copy():
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    assert build_average(model, 0.0) is None
    average = build_average(model, 0.9)
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    average.update_parameters(model)  # the first update copies
    assert torch.equal(average.module[0].weight, model[0].weight)
    with torch.no_grad():
        model[0].weight.fill_(2.0)
        model[1].running_mean.fill_(1.0)
    average.update_parameters(model)
    assert torch.allclose(average.module[0].weight, torch.full((3, 3), 1.1))
    assert torch.allclose(average.module[1].running_mean, torch.full((3,), 0.1))  # buffers too


def test_alternate_flip_reaches_the_training_augmentation():
    config = TrainConfig("lenet5", crop_padding=2, hflip=True, cutout=0, alternate_flip=True)
    assert build_module.train_augment(config) == Augment(2, True, 0, alternate_flip=True)
    off = replace(config, alternate_flip=False)
    assert build_module.train_augment(off) == Augment(2, True, 0)


def test_nesterov_reaches_the_optimizer():
    config = TrainConfig("lenet5", lr=0.1, momentum=0.9, weight_decay=0.0, nesterov=True)
    assert make_sgd(nn.Linear(2, 2).parameters(), config).defaults["nesterov"] is True


def test_without_decay_norm_bias_only_the_weights_of_convolutions_and_linears_decay():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.BatchNorm2d(4), nn.Linear(4, 2))
    config = TrainConfig("lenet5", lr=0.1, momentum=0.9, weight_decay=5e-4, decay_norm_bias=False)
    optimizer = make_sgd(decay_groups(model, config), config)
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 5e-4 and plain["weight_decay"] == 0.0
    assert {id(p) for p in decayed["params"]} == {id(model[0].weight), id(model[2].weight)}
    assert {id(p) for p in plain["params"]} == {
        id(p) for p in (model[1].weight, model[1].bias, model[2].bias)
    }
    everything = replace(config, decay_norm_bias=True)
    (group,) = make_sgd(decay_groups(model, everything), everything).param_groups
    assert len(group["params"]) == 5 and group["weight_decay"] == 5e-4


@pytest.mark.parametrize(
    ("flags", "expected"),
    [(["avx2", "avx512_bf16"], "bf16"), (["amx_tile", "amx_bf16"], "bf16"), (["avx2"], "fp32")],
)
def test_auto_precision_is_bf16_only_where_the_cpu_has_bf16_instructions(
    monkeypatch, flags, expected
):
    monkeypatch.setattr(build_module, "cpu_info", lambda: ("some cpu", flags))
    assert auto_precision(torch.device("cpu")) == expected


def test_bad_recipe_options_get_one_line_each():
    for kwargs, message in [
        ({"cutout": -1}, "--cutout must be >= 0"),
        ({"ema_decay": 1.0}, r"--ema-decay must be in \[0, 1\)"),
        ({"ema_bn_batches": -1}, "--ema-bn-batches must be >= 0"),
        ({"small_size": -2}, "--small-size must be >= 0"),
        ({"eval_every": -1}, "--eval-every must be >= 0"),
        ({"recipe_name": "fastest"}, "--recipe must be one of fashion-mnist-94"),
        ({"tta": "mirror"}, "--tta must be one of none, flip, flip-shift, 10crop"),
    ]:
        with pytest.raises(ValueError, match=message):
            TrainConfig("resnet20", **kwargs)


def test_a_small_size_the_model_cannot_take_is_one_line(fake_mnist, tmp_path):
    config = TrainConfig(
        "lenet5", dataset="mnist", data_dir=str(fake_mnist), small_size=20, out=str(tmp_path / "r")
    )
    with pytest.raises(ValueError, match=r"^--small-size 20: "):
        run(config)


def test_alternate_flip_without_mirror_images_is_one_line(fake_mnist, tmp_path):
    config = TrainConfig(
        "lenet5", dataset="mnist", data_dir=str(fake_mnist), alternate_flip=True, out=str(tmp_path)
    )
    with pytest.raises(ValueError, match=r"^--alternate-flip needs mirror images.*add --hflip"):
        run(config)


def speed_run(fake_mnist, out, model="resnet20", recipe="fashion-mnist-94", **changes) -> dict:
    """A named recipe on 512 fake digits for two epochs."""
    config = TrainConfig(
        model,
        dataset="mnist",
        data_dir=str(fake_mnist),
        recipe_name=recipe,
        epochs=2,
        subset=512,
        out=str(out),
        **changes,
    )
    return run(config)


def saved_model_and_test_stream(ckpt: dict, model_name: str, data_dir: str):
    """The model a checkpoint saved, the fake digits and their test stream."""
    model = create_model(model_name, **ckpt["model_kwargs"])
    model.load_state_dict(ckpt["model"])
    data = build_module.load_dataset("mnist", data_dir=data_dir)
    stream = BatchStream(data.test, data.info, batch_size=128, train=False, seed=0, device="cpu")
    return model, data, stream


def check_speed_run(out, result, model_name="resnet20", recipe="fashion-mnist-94") -> None:
    """The resolved recipe is the run's; what it evaluates (the average where the recipe has one,
    with flips) is what it saves as its model, and the run's last test top-1 is that model's."""
    speed = NAMED[recipe]
    saved = result["config"]
    for name in RECIPE_FIELDS:  # a recipe's None (crops, flips): the dataset's default
        if name not in ("epochs", "precision", "compile") and getattr(speed, name) is not None:
            assert saved[name] == getattr(speed, name), name
    assert saved["precision"] in ("bf16", "fp32")  # auto, resolved for this host
    last, best = load_checkpoint(out / "last.pt"), load_checkpoint(out / "best.pt")
    if speed.ema_decay:
        assert last["average_updates"] == 2 * (512 // speed.batch_size)
        trained = last["training_model"]
        assert any(not torch.equal(last["model"][k], trained[k]) for k in last["model"])
    else:
        assert "training_model" not in last and "average_updates" not in last
    rows = read_metrics_csv(out / "metrics.csv")
    model, data, stream = saved_model_and_test_stream(best, model_name, saved["data_dir"])
    tested = "fp32" if saved["fp32_test"] else saved["precision"]
    runtime = Runtime(amp_dtype=build_module.AMP_DTYPES[tested])
    top1 = evaluate(model, stream, runtime, num_classes=10, tta=speed.tta)["top1"]
    best_row = max(rows, key=lambda r: r["test_top1"])
    assert top1 == pytest.approx(best_row["test_top1"], abs=1 / len(data.test))


def test_the_speed_recipe_options_work_together_on_a_subset(fake_mnist, tmp_path):
    out = tmp_path / "run"
    result = speed_run(fake_mnist, out, compile=False)
    check_speed_run(out, result)


def test_the_best_accuracy_recipe_options_work_together_on_a_wide_network(fake_mnist, tmp_path):
    out = tmp_path / "run"
    best = "fashion-mnist-best"  # cutout, no averaged copy, a test pass every 4 epochs
    result = speed_run(fake_mnist, out, model="wrn16_4", recipe=best, compile=False)
    check_speed_run(out, result, "wrn16_4", best)
    assert [row["epoch"] for row in read_metrics_csv(out / "metrics.csv")] == [2]  # the last


def test_the_fast_recipe_options_work_together_on_the_speed_run_network(fake_mnist, tmp_path):
    out = tmp_path / "run"
    fast = "fashion-mnist-94-fast"  # no weight decay on norms and biases, label smoothing 0.2
    result = speed_run(fake_mnist, out, model="airbench94_half", recipe=fast, compile=False)
    check_speed_run(out, result, "airbench94_half", fast)
    assert result["config"]["decay_norm_bias"] is False
    assert result["config"]["label_smoothing"] == 0.2
    assert [row["epoch"] for row in read_metrics_csv(out / "metrics.csv")] == [2]


def test_the_short_recipe_options_work_together_on_the_speed_run_network(fake_mnist, tmp_path):
    out = tmp_path / "run"
    short = "fashion-mnist-94-short"  # small images first, crops padded by 1, six test views
    result = speed_run(fake_mnist, out, model="airbench94_half", recipe=short)
    check_speed_run(out, result, "airbench94_half", short)
    assert result["config"]["crop_padding"] == 1 and result["config"]["small_size"] == 20


def test_the_short_recipe_is_the_fast_recipe_in_fewer_epochs_some_small_and_shifted_less():
    fast, short = NAMED["fashion-mnist-94-fast"], NAMED["fashion-mnist-94-short"]
    assert short.epochs < fast.epochs and short.source != fast.source
    assert 0 < short.small_epochs < short.epochs and 0 < short.small_size < 28
    assert short.crop_padding < DEFAULT_AUGMENT["fashion-mnist"].random_crop_padding
    same = dict(epochs=fast.epochs, small_size=0, small_epochs=0, crop_padding=None)
    assert replace(short, **same, source=fast.source) == fast


def test_the_95_recipe_is_the_fast_recipe_run_longer_and_tested_in_fp32():
    fast, longer = NAMED["fashion-mnist-94-fast"], NAMED["fashion-mnist-95-fast"]
    assert longer.epochs > fast.epochs and longer.source != fast.source
    assert longer.fp32_test and not fast.fp32_test
    assert replace(longer, epochs=fast.epochs, fp32_test=False, source=fast.source) == fast


def test_fp32_test_runs_the_test_pass_of_a_bf16_run_in_fp32(fake_mnist, tmp_path):
    out = tmp_path / "run"
    config = TrainConfig(
        "lenet5", dataset="mnist", data_dir=str(fake_mnist), epochs=1, subset=256,
        precision="bf16", fp32_test=True, tta="none", out=str(out),
    )  # fmt: skip
    result = run(config)
    assert result["config"]["precision"] == "bf16" and result["config"]["fp32_test"] is True
    best = load_checkpoint(out / "best.pt")
    model, _, stream = saved_model_and_test_stream(best, "lenet5", str(fake_mnist))
    losses = {
        name: evaluate(model, stream, Runtime(amp_dtype=dtype), num_classes=10)["loss"]
        for name, dtype in [("fp32", None), ("bf16", torch.bfloat16)]
    }
    written = read_metrics_csv(out / "metrics.csv")[-1]["test_loss"]  # 6 significant digits
    assert written == pytest.approx(losses["fp32"], rel=1e-5)
    assert written != pytest.approx(losses["bf16"], rel=1e-5)


@pytest.mark.slow
def test_the_speed_recipe_as_named_compiled_on_a_subset(fake_mnist, tmp_path):
    out = tmp_path / "run"
    result = speed_run(fake_mnist, out)
    assert result["config"]["compile"] is True
    check_speed_run(out, result)


@pytest.mark.parametrize(("every", "evaluated"), [(2, [2, 3]), (0, [3])])
def test_eval_every_evaluates_every_nth_epoch_and_the_last(
    fake_mnist, tmp_path, capsys, every, evaluated
):
    out = tmp_path / "run"
    config = TrainConfig(
        "lenet5",
        dataset="mnist",
        data_dir=str(fake_mnist),
        epochs=3,
        subset=256,
        eval_every=every,
        out=str(out),
    )
    result = run(config)
    assert [r["epoch"] for r in read_metrics_csv(out / "metrics.csv")] == evaluated
    printed = capsys.readouterr().out
    assert "epoch 1/3  train loss" in printed and "; 3 epochs," in printed
    assert result["epoch"] == 3 and load_checkpoint(out / "last.pt")["epoch"] == 3


def test_three_state_flags_take_yes_no_and_the_recipe():
    from cnnzoo.options import add_options, argv_of, config_from_args

    parser = argparse.ArgumentParser()
    add_options(parser, TrainConfig)
    for argv, value in [([], None), (["--hflip"], True), (["--no-hflip"], False)]:
        config = config_from_args(TrainConfig, parser.parse_args(["resnet20", *argv]))
        assert config.hflip is value
        assert argv_of(config) == ["resnet20", *argv]
