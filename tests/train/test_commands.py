"""The train / eval / predict sub-commands: their flags, outputs and one-line errors."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from PIL import Image
from trainutil import fake_digits

from cnnzoo.cli import build_parser, config_from_args, main
from cnnzoo.train import TrainConfig, run

TRAIN_FLAGS = {
    "--dataset",
    "--data-dir",
    "--epochs",
    "--batch-size",
    "--optimizer",
    "--lr",
    "--momentum",
    "--weight-decay",
    "--decay-norm-bias",
    "--no-decay-norm-bias",
    "--schedule",
    "--warmup-epochs",
    "--label-smoothing",
    "--recipe",
    "--nesterov",
    "--no-nesterov",
    "--crop-padding",
    "--hflip",
    "--no-hflip",
    "--alternate-flip",
    "--no-alternate-flip",
    "--cutout",
    "--small-size",
    "--small-epochs",
    "--ema-decay",
    "--ema-bn-batches",
    "--tta",
    "--eval-every",
    "--precision",
    "--fp32-test",
    "--no-fp32-test",
    "--channels-last",
    "--no-channels-last",
    "--compile",
    "--no-compile",
    "--seed",
    "--subset",
    "--out",
    "--resume",
    "--deterministic",
    "--input-size",
    "--checkpoint-every",
}


def option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings if s.startswith("--")} - {"--help"}


def test_the_cli_has_the_three_parsers_with_their_flags():
    parser, sub = build_parser()
    assert {"train", "eval", "predict"} <= set(sub.choices)
    assert option_strings(sub.choices["train"]) == TRAIN_FLAGS
    assert option_strings(sub.choices["eval"]) == {
        "--weights",
        "--dataset",
        "--data-dir",
        "--tta",
        "--format",
        "--batch-size",
        "--out",
    }
    args = parser.parse_args(["train", "resnet20", "--lr", "0.2", "--channels-last"])
    assert (args.model, args.lr, args.channels_last, args.epochs) == ("resnet20", 0.2, True, None)
    # The flags' defaults are the configuration's: no flag, the dataclass's defaults.
    assert config_from_args(TrainConfig, parser.parse_args(["train", "x"])) == TrainConfig("x")


@pytest.fixture(scope="module")
def trained(fake_mnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("cmd") / "run"
    result = run(
        TrainConfig(
            "lenet5",
            dataset="mnist",
            data_dir=str(fake_mnist),
            epochs=2,
            batch_size=64,
            subset=1024,
            out=str(out),
        )
    )
    return out, result


def test_eval_json_matches_training_and_writes_the_confusion_png(trained, capsys):
    out, result = trained
    capsys.readouterr()
    assert main(["eval", str(out / "last.pt"), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["top1"] == pytest.approx(result["test_top1"])
    assert report["error1"] == pytest.approx(1 - report["top1"])
    assert list(report["per_class"]) == list("0123456789") and report["count"] == 256
    png = out / "last-confusion-mnist.png"
    assert report["confusion_png"] == str(png) and png.read_bytes()[:4] == b"\x89PNG"
    assert main(["eval", str(out / "best.pt"), "--tta", "flip"]) == 0
    text = capsys.readouterr().out
    assert "top-1 accuracy" in text and "per-class accuracy" in text


def test_predict_names_the_top5_classes(trained, tmp_path, capsys):
    out, _ = trained
    images, labels = fake_digits(4, seed=1)
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"digit{i}.png")
        Image.fromarray(image.numpy(), mode="L").save(paths[-1])
    capsys.readouterr()
    assert main(["predict", str(out / "best.pt"), *map(str, paths), "--format", "json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in results] == list(map(str, paths))
    for result in results:
        probs = [row["probability"] for row in result["top"]]
        assert len(probs) == 5 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
    hits = sum(r["top"][0]["class"] == str(int(y)) for r, y in zip(results, labels, strict=True))
    assert hits >= 3


def test_predict_with_a_torchvision_state_dict_uses_imagenet_names(tmp_path, capsys):
    import torchvision

    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "tv.pth")
    Image.new("RGB", (300, 240), (120, 30, 200)).save(tmp_path / "x.jpg")
    capsys.readouterr()
    assert (
        main(
            [
                "predict",
                "resnet18",
                str(tmp_path / "x.jpg"),
                "--weights",
                str(tmp_path / "tv.pth"),
                "--format",
                "json",
            ]
        )
        == 0
    )
    top = json.loads(capsys.readouterr().out)[0]["top"]
    names = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    assert all(row["class"] == names[row["index"]] for row in top)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "lenet5", "--lr", "-1"], "--lr must be positive"),
        (["train", "lenet6"], "unknown model 'lenet6'"),
        (["train", "lenet5", "--dataset", "fashion-mnst"], "did you mean fashion-mnist"),
        (["eval", "no/such.pt"], "does not exist"),
        (["predict", "no/such.pt", "x.png"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_on_stderr(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_eval_refuses_a_pickled_checkpoint(tmp_path, capsys):
    torch.save({"format": "cnnzoo-checkpoint", "model": argparse.Namespace()}, tmp_path / "x.pt")
    assert main(["eval", str(tmp_path / "x.pt")]) == 2
    assert "pickled Python objects" in capsys.readouterr().err


def test_unknown_choice_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "lenet5", "--optimizer", "lbfgs"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'lbfgs'" in capsys.readouterr().err
