import pytest

from cnnzoo.analysis.explain import (
    TOPICS,
    inception,
    receptive_field,
    render_explanation,
    separable,
)
from cnnzoo.reference import load_table

LECTURE = load_table()["lecture_figures"]


def numbers(explanation):
    return dict(explanation.numbers)


def test_stacked_3x3_sees_7x7_with_fewer_parameters():
    n = numbers(receptive_field(channels=64))
    assert n["receptive field of the 3x3 stack"] == LECTURE["stacked_3x3_receptive_field_3_layers"]
    assert n["receptive field of the 7x7 convolution"] == 7
    assert n["parameters of the 3x3 stack"] == 3 * 3 * 3 * 64 * 64
    assert n["parameters of the 7x7 convolution"] == 7 * 7 * 64 * 64
    assert n["parameter ratio 7x7 / stack"] == LECTURE["params_ratio_7x7_vs_three_3x3"]


def test_inception_bottleneck_numbers():
    n = numbers(inception())
    assert n["MACs, naive 5x5 branch"] == LECTURE["inception_5x5_branch_naive_macs"]
    assert n["MACs, 1x1 reduction then 5x5"] == LECTURE["inception_5x5_branch_bottleneck_macs"]


@pytest.mark.parametrize(
    ("k", "m", "n", "f"), [(3, 32, 64, 112), (5, 3, 16, 32), (3, 512, 512, 14)]
)
def test_separable_matches_the_formulas(k, m, n, f):
    got = numbers(separable(kernel=k, in_channels=m, out_channels=n, size=f))
    assert got["parameters, standard"] == k * k * m * n
    assert got["parameters, depthwise separable"] == m * (k * k + n)
    assert got["MACs, standard"] == k * k * m * n * f * f
    assert got["MACs, depthwise separable"] == m * (k * k + n) * f * f
    assert got["cost ratio separable / standard"] == got["1/N + 1/K^2"]


def test_render_prints_formula_numbers_and_modules():
    text = render_explanation(TOPICS["inception"]())
    assert "120,422,400" in text and "12,443,648" in text
    assert "Formula:" in text and "Conv2d(192, 32, kernel_size=(5, 5)" in text


def test_mobilenet_table_matches_the_reference_grid():
    from cnnzoo.analysis.explain import mobilenet

    grid = {(r["width_mult"], r["resolution"]): r for r in load_table()["mobilenet_v1_grid"]}
    table = mobilenet().table
    assert table[0][:5] == ("alpha", "resolution", "rho", "parameters", "mult-adds (M)")
    assert len(table) == 1 + 16
    for alpha, res, _, params, madds, *_ in table[1:]:
        ref = grid[(float(alpha), int(res))]
        assert int(params.replace(",", "")) == ref["params"]
        assert float(madds) == pytest.approx(ref["macs_conv_linear"] / 1e6, rel=0.02)
