"""The engine in-process: one epoch, evaluation, schedules, recipes, a whole run and its files."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from torch import nn

from cnnzoo.checkpoint import load_checkpoint
from cnnzoo.data import BatchStream, DatasetInfo, Split
from cnnzoo.distributed import Runtime
from cnnzoo.evaluate.loop import (
    FLIP_SHIFT_WEIGHTS,
    confusion_matrix,
    evaluate,
    mean_log_probs,
    shifted,
    topk_correct,
    tta_flip_shift,
)
from cnnzoo.models.base import AuxOutputs, ZooModel
from cnnzoo.runlog import METRICS_COLUMNS, read_metrics_csv
from cnnzoo.train import TrainConfig, recipe_for, run, train_one_epoch
from cnnzoo.train.engine import Hooks, Trainer, TrainingDiverged, refit_batch_norm
from cnnzoo.train.optim import SCHEDULES, make_scheduler
from cnnzoo.train.recipes import TUNED, Recipe, resolve

INFO = DatasetInfo("fake", 10, 1, 28, tuple("abcdefghij"), (0.5,), (0.25,))


def fake_split(n: int, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    return Split(images, torch.arange(n) % 10)


class Constant(ZooModel):
    """Logits fixed per class (plus a weight, so there is something to train)."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__(num_classes=len(logits), in_chans=1)
        self.logits = logits
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(len(x), -1) + self.w * x.mean()


def test_topk_and_confusion_against_hand_counts():
    scores = torch.tensor([[0.1, 0.5, 0.4], [0.9, 0.05, 0.05], [0.2, 0.3, 0.5]])
    labels = torch.tensor([2, 0, 0])
    # row 0: top-1 is 1 (wrong), top-2 {1, 2} holds 2; row 1 right; row 2: 0 is last of three.
    assert topk_correct(scores, labels, (1, 2, 5)).tolist() == [1.0, 2.0, 3.0]
    cm = confusion_matrix(scores.argmax(1), labels, 3)
    assert cm.tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0]]


def test_evaluate_counts_top1_top5_and_loss():
    logits = torch.arange(10.0)  # class 9 always first, class 5 sixth
    stream = BatchStream(fake_split(40), INFO, batch_size=16, train=False, seed=0, device="cpu")
    out = evaluate(Constant(logits), stream, Runtime(), num_classes=10)
    assert out["count"] == 40
    assert out["top1"] == pytest.approx(0.1)  # only the 4 images of class 9
    assert out["top5"] == pytest.approx(0.5)  # classes 5-9
    expected_loss = -(logits.log_softmax(0)).mean().item()  # every class equally often
    assert out["loss"] == pytest.approx(expected_loss, rel=1e-6)
    assert out["per_class"][9] == 1.0 and out["per_class"][0] == 0.0
    assert out["confusion"][:, 9].sum() == 40


def test_tta_flip_averages_probabilities():
    a, b = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    assert torch.allclose(mean_log_probs([a, b]).exp(), torch.tensor([[0.5, 0.5]]))
    stream = BatchStream(fake_split(20), INFO, batch_size=20, train=False, seed=0, device="cpu")
    for tta in ("flip", "flip-shift", "10crop"):
        out = evaluate(Constant(torch.arange(10.0)), stream, Runtime(), num_classes=10, tta=tta)
        assert out["top1"] == pytest.approx(0.1)


def test_flip_shift_moves_one_pixel_and_weighs_the_unmoved_pair_half():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert torch.equal(shifted(x, 1, 1)[0, 0, 1:, 1:], x[0, 0, :3, :3])  # down and right
    assert torch.equal(shifted(x, -1, -1)[0, 0, :3, :3], x[0, 0, 1:, 1:])  # up and left
    assert torch.equal(shifted(x, 1, 1)[0, 0, 0], torch.tensor([0.0, 0.0, 1.0, 2.0]))  # repeated
    assert sum(FLIP_SHIFT_WEIGHTS) == pytest.approx(1.0)

    class ByMean(nn.Module):  # class 0: the unmoved mean, 1: a larger one, 2: a smaller one
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[torch.Tensor] = []

        def forward(self, images):
            self.seen.append(images)
            mean = images.mean((1, 2, 3))
            votes = torch.stack([mean == 7.5, mean > 7.5, mean < 7.5], 1)
            return votes.float() * 50

    model = ByMean()
    probs = tta_flip_shift(model, x).exp()[0]
    assert probs.tolist() == pytest.approx([1 / 2, 1 / 4, 1 / 4], abs=1e-6)
    assert len(model.seen) == 6 and torch.equal(model.seen[3], x.flip(-1))


def test_train_one_epoch_returns_fractions_and_learns():
    torch.manual_seed(0)
    from cnnzoo import create_model

    model = create_model("lenet5", num_classes=10, in_chans=1)
    split = fake_split(256)
    stream = BatchStream(split, INFO, batch_size=32, train=True, seed=0, device="cpu")
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    seen = []
    trainer = Trainer(model, stream, opt, sched, scaler, nn.CrossEntropyLoss(), Runtime(), 1)
    hooks = Hooks(checkpoint_every=3, on_checkpoint=lambda s, p: seen.append((s, p)))
    out = train_one_epoch(trainer, 0, hooks=hooks)
    assert out["steps"] == 8 and out["images"] == 256
    assert 0 <= out["top1"] <= 1 and math.isfinite(out["loss"]) and out["images_per_s"] > 0
    assert [s for s, _ in seen] == [3, 6]  # never after the last step (8)
    assert seen[-1][1]["sums"][2] == 6 * 32


class WithAux(ZooModel):
    """A main and an auxiliary linear head on the image mean; AuxOutputs in training mode."""

    def __init__(self) -> None:
        super().__init__(num_classes=10, in_chans=1)
        self.main, self.aux = nn.Linear(1, 10), nn.Linear(1, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor | AuxOutputs:
        f = x.mean((1, 2, 3))[:, None]
        return AuxOutputs(self.main(f), (self.aux(f),)) if self.training else self.main(f)


@pytest.mark.parametrize("aux_weight", [0.0, 0.3])
def test_auxiliary_logits_are_weighted_into_the_objective_only(aux_weight):
    torch.manual_seed(0)
    model = WithAux()
    aux_before = model.aux.weight.detach().clone()
    stream = BatchStream(fake_split(64), INFO, batch_size=32, train=True, seed=0, device="cpu")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    criterion = nn.CrossEntropyLoss()
    trainer = Trainer(model, stream, opt, sched, scaler, criterion, Runtime(), 1, None, aux_weight)
    out = train_one_epoch(trainer, 0)
    assert math.isfinite(out["loss"]) and out["steps"] == 2 and not out["stopped"]
    assert torch.equal(model.aux.weight, aux_before) == (aux_weight == 0)


def test_nan_loss_stops_the_epoch():
    model = Constant(torch.full((10,), float("nan")))
    stream = BatchStream(fake_split(64), INFO, batch_size=16, train=True, seed=0, device="cpu")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    with pytest.raises(TrainingDiverged, match="epoch 1, step 1"):
        criterion = nn.CrossEntropyLoss()
        train_one_epoch(Trainer(model, stream, opt, sched, scaler, criterion, Runtime(), 1), 0)


def test_schedules_shapes_and_warmup():
    recipe = Recipe(
        epochs=10,
        batch_size=1,
        optimizer="sgd",
        lr=1.0,
        momentum=0.0,
        weight_decay=0.0,
        schedule="step",
        milestones=(0.5, 0.75),
    )
    assert SCHEDULES["cosine"](0.0, recipe) == 1.0
    assert SCHEDULES["cosine"](1.0, recipe) == pytest.approx(0.0)
    assert [SCHEDULES["step"](p, recipe) for p in (0.49, 0.5, 0.8)] == pytest.approx([1, 0.1, 0.01])
    assert SCHEDULES["onecycle"](0.0, recipe) == pytest.approx(1 / 25)
    assert SCHEDULES["onecycle"](0.3, recipe) == pytest.approx(1.0)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    config = TrainConfig("lenet5", epochs=10, lr=1.0, schedule="cosine", warmup_epochs=1)
    sched = make_scheduler(opt, config, recipe, steps_per_epoch=4)
    lrs = []
    for _ in range(40):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])  # linear warm-up over one epoch
    assert lrs[-1] < 0.01 and max(lrs) == 1.0


def test_recipes_lookup_and_resolution():
    assert (
        recipe_for("lenet5", "lenet", "fashion-mnist", small_images=True)
        is TUNED["lenet5", "fashion-mnist"]
    )
    assert recipe_for("resnet56", "resnet", "cifar10", small_images=True).lr == 0.1
    vgg = recipe_for("vgg16", "vgg", "imagefolder", small_images=False)
    assert (vgg.batch_size, vgg.weight_decay, vgg.momentum) == (256, 5e-4, 0.9)  # Sec. 3.1
    assert recipe_for("googlenet", "googlenet", "mnist", small_images=True).aux_loss_weight == 0.3
    assert recipe_for("newnet", "unknown-family", "mnist", small_images=True).optimizer == "sgd"
    resolved = resolve(TrainConfig("lenet5", lr=0.5), TUNED["lenet5", "fashion-mnist"])
    assert resolved.lr == 0.5 and resolved.epochs == 15 and not resolved.unresolved()


def test_bad_options_raise_clear_value_errors():
    with pytest.raises(ValueError, match="--lr must be positive"):
        TrainConfig("lenet5", lr=-1)
    with pytest.raises(ValueError, match="--optimizer must be one of sgd, adamw"):
        TrainConfig("lenet5", optimizer="lbfgs")
    with pytest.raises(ValueError, match="--label-smoothing"):
        TrainConfig("lenet5", label_smoothing=1.5)


def test_model_that_cannot_take_the_images_suggests_input_size(fake_mnist, tmp_path):
    config = TrainConfig(
        "lenet5",
        dataset="mnist",
        data_dir=str(fake_mnist),
        input_size=30,
        out=str(tmp_path / "run"),
    )
    with pytest.raises(ValueError, match="rerun with --input-size 32"):
        run(config)


def test_run_writes_its_files(fake_mnist, tmp_path, capsys):
    out = tmp_path / "run"
    config = TrainConfig(
        "lenet5",
        dataset="mnist",
        data_dir=str(fake_mnist),
        epochs=2,
        batch_size=64,
        subset=512,
        out=str(out),
        checkpoint_every=3,
    )
    result = run(config)
    printed = capsys.readouterr().out
    assert "final test top-1" in printed and "epoch 2/2" in printed
    assert result["test_top1"] > 0.5  # the fake digits are easy
    rows = read_metrics_csv(out / "metrics.csv")
    assert [r["epoch"] for r in rows] == [1, 2]
    assert tuple(rows[0]) == METRICS_COLUMNS
    assert all(0 <= r[k] <= 1 for r in rows for k in ("train_top1", "test_top1", "test_top5"))
    saved = json.loads((out / "config.json").read_text())
    assert (saved["optimizer"], saved["lr"], saved["batch_size"]) == ("adamw", 3e-3, 64)
    assert saved["recipe"]["schedule"] == "cosine"  # LeNet-5's small-image recipe
    assert saved["environment"]["world_size"] == 1
    assert list(out.glob("events.out.tfevents.*"))
    last, best = load_checkpoint(out / "last.pt"), load_checkpoint(out / "best.pt")
    assert (last["epoch"], last["step"]) == (2, 0) and len(last["history"]) == 2
    assert last["dataset"]["class_names"] == list("0123456789")
    assert last["model_kwargs"] == {"num_classes": 10, "in_chans": 1}
    assert best["metrics"]["test_top1"] == max(r["test_top1"] for r in rows)
    assert last["config"] == dataclasses.asdict(TrainConfig(**result["config"]))
    # A finished run is not overwritten by accident.
    with pytest.raises(ValueError, match="already holds a run"):
        run(config)
    # --resume insists on the saved configuration.
    with pytest.raises(ValueError, match=r"--lr 0.1 \(saved 0.003\)"):
        run(dataclasses.replace(config, resume=True, lr=0.1))


def test_diverging_run_stops_and_keeps_a_finite_checkpoint(fake_mnist, tmp_path):
    out = tmp_path / "run"
    config = TrainConfig(
        "lenet5",
        dataset="mnist",
        data_dir=str(fake_mnist),
        epochs=1,
        batch_size=64,
        subset=512,
        optimizer="sgd",
        lr=1e6,
        out=str(out),
        checkpoint_every=1,
    )
    with pytest.raises(TrainingDiverged, match=r"the last good checkpoint is .*last\.pt"):
        run(config)
    last = load_checkpoint(out / "last.pt")
    assert all(torch.isfinite(t).all() for t in last["model"].values())
    assert last["step"] >= 1


def test_bf16_autocast_on_cpu(fake_mnist, tmp_path):
    config = TrainConfig(
        "lenet5",
        dataset="mnist",
        data_dir=str(fake_mnist),
        epochs=1,
        batch_size=64,
        subset=256,
        precision="bf16",
        channels_last=True,
        out=str(tmp_path / "run"),
    )
    result = run(config)
    assert math.isfinite(result["train_loss"]) and result["test_top1"] >= 0


def test_refit_batch_norm_takes_the_plain_mean_of_the_batches_statistics():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU())
    net[1].running_mean.fill_(7.0)  # stale statistics the refit must forget
    batches = [(torch.randn(4, 1, 8, 8) * (k + 1), torch.zeros(4)) for k in range(3)]
    fitted = refit_batch_norm(net, batches, Runtime())
    assert not fitted.training and fitted is not net
    conv = [net[0](x).detach() for x, _ in batches]
    means = torch.stack([y.mean((0, 2, 3)) for y in conv])
    variances = torch.stack([y.var((0, 2, 3), unbiased=True) for y in conv])
    bn = fitted[1]
    torch.testing.assert_close(bn.running_mean, means.mean(0))
    torch.testing.assert_close(bn.running_var, variances.mean(0))
    assert int(bn.num_batches_tracked) == 3
    assert torch.all(net[1].running_mean == 7.0)  # the original is untouched


def test_ema_bn_batches_refits_the_tested_copy_only(fake_mnist, tmp_path):
    def train(batches: int, name: str) -> tuple[dict, dict, list[dict]]:
        out = tmp_path / name
        config = TrainConfig(
            "resnet20",
            dataset="fashion-mnist",
            data_dir=str(fake_mnist),
            epochs=1,
            batch_size=64,
            subset=256,
            optimizer="sgd",
            lr=0.1,
            ema_decay=0.9,
            ema_bn_batches=batches,
            deterministic=True,
            out=str(out),
        )
        run(config)
        last, best = load_checkpoint(out / "last.pt"), load_checkpoint(out / "best.pt")
        return last, best, read_metrics_csv(out / "metrics.csv")

    last, best, rows = train(3, "refit")
    plain_last, plain_best, plain_rows = train(0, "plain")
    counts = {k: int(v) for k, v in best["model"].items() if k.endswith("num_batches_tracked")}
    assert counts and set(counts.values()) == {3}  # measured afresh over exactly 3 batches
    means = [k for k in best["model"] if k.endswith("running_mean")]
    for key, value in best["model"].items():
        if "running" not in key and "num_batches" not in key:
            assert torch.equal(value, last["model"][key]), key  # the averaged weights as they are
    assert not all(torch.equal(best["model"][k], last["model"][k]) for k in means)
    for key, value in last["model"].items():  # the running average is not disturbed
        assert torch.equal(value, plain_last["model"][key]), key
    assert plain_best["model"][means[0]].equal(plain_last["model"][means[0]])
    assert rows[0]["train_loss"] == plain_rows[0]["train_loss"]
    assert rows[0]["test_loss"] != plain_rows[0]["test_loss"]
