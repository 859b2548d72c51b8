import json

import pytest

from cnnzoo.cli import main


def test_list_prints_names_and_parameters(capsys):
    assert main(["list", "vgg1?"]) == 0
    out = capsys.readouterr().out
    assert "vgg16" in out and "138,357,544" in out and "Simonyan" in out


def test_list_with_no_match_fails(capsys):
    assert main(["list", "nothing*"]) == 1


def test_summary_json(capsys):
    assert (
        main(
            ["summary", "resnet18", "--input", "3,64,64", "--num-classes", "7", "--format", "json"]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["input_size"] == [3, 64, 64]
    assert report["rows"][-1]["output_shape"] == [1, 7]


def test_summary_table_and_csv(capsys):
    assert main(["summary", "vgg11", "--depth", "1"]) == 0
    assert "132,863,336" in capsys.readouterr().out
    assert main(["summary", "alexnet", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("name,")


def test_errors_are_one_line(capsys):
    assert main(["summary", "vgg17"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'vgg17'" in err and "Traceback" not in err
    assert main(["summary", "vgg16", "--input", "3,16,16"]) == 2
    assert "smallest input it accepts is 3x32x32" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["summary", "vgg16", "--input", "3,x"])


def test_explain_separable_options(capsys):
    assert (
        main(
            [
                "explain",
                "separable",
                "--kernel",
                "5",
                "--in-channels",
                "3",
                "--out-channels",
                "16",
                "--size",
                "32",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "1,200" in out and "123" in out


def test_compare_named_models(capsys):
    assert main(["compare", "lenet5_original", "vgg16", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3


def test_train_argv_gives_back_the_flags_of_a_configuration():
    from cnnzoo.cli import build_parser, config_from_args, train_argv
    from cnnzoo.train import TrainConfig

    parser, _ = build_parser()
    argv = ["train", "resnet20", "--lr", "0.2", "--channels-last", "--out", "a dir", "--seed", "3"]
    config = config_from_args(TrainConfig, parser.parse_args(argv))
    assert config_from_args(TrainConfig, parser.parse_args(train_argv(config))) == config
    assert train_argv(TrainConfig("lenet5")) == ["train", "lenet5"]
