"""The steps :func:`cnnzoo.inside.command.inspect` is made of: the --top-from flag, the forward
hooks, the layers a network shows, the timings."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.inside.command import InspectConfig
from cnnzoo.inside.compute import plan_layers
from cnnzoo.inside.layers import hooked
from cnnzoo.inside.views import seconds_record
from cnnzoo.options import argv_of, config_from_args
from cnnzoo.registry import create_model
from cnnzoo.source import open_source


def test_top_from_reads_a_count_or_all():
    for text, value in (("all", None), ("30", 30)):
        config = config_from_args(InspectConfig, {"checkpoint": "best.pt", "top_from": text})
        assert config.top_from == value
        assert argv_of(config)[-2:] == ["--top-from", text]
    with pytest.raises(
        ValueError, match=r"^--top-from must be a number of images or .all., got .most.$"
    ):
        config_from_args(InspectConfig, {"checkpoint": "best.pt", "top_from": "most"})


def test_hooked_calls_back_and_removes_its_hooks():
    model = create_model("lenet5", in_chans=1, num_classes=10).eval()
    names = ["features.c1", "features.c3"]
    seen = []
    with hooked(model, names, lambda name, output: seen.append((name, output.shape[1]))):
        model(torch.zeros(1, 1, 28, 28))
    model(torch.zeros(1, 1, 28, 28))  # the hooks are gone
    assert seen == [("features.c1", 6), ("features.c3", 16)]
    assert not any(model.get_submodule(n)._forward_hooks for n in names)


def test_plan_takes_the_stage_ends_and_cams_the_last_map_wider_than_one(resnet20_checkpoint):
    source = open_source(str(resnet20_checkpoint))
    plan = plan_layers(source, ())
    assert [layer.name for layer in plan.chosen] == [layer.name for layer in plan.stages]
    assert plan.cam.name == "layer3"
    assert [layer.name for layer in plan_layers(source, ("layer2",)).chosen] == ["layer2"]


def test_seconds_are_the_steps_between_the_marks():
    seconds = seconds_record([0.0, 1.0, 3.0, 6.0, 10.0, 15.0])
    assert seconds == {
        "load": 1.0,
        "maps": 2.0,
        "evidence": 3.0,
        "top": 4.0,
        "figures": 5.0,
        "total": 15.0,
    }
