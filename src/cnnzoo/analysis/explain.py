"""The design calculations of the classic networks, each measured on real modules through the
profiler.

Every topic builds the modules it talks about, profiles them on the meta device, and returns an
:class:`Explanation`: the formula, the numbers measured, and the modules measured. Nothing is typed
in: the formula is printed beside the measurement so a reader can check one against the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from cnnzoo.analysis.profiler import profile, variant_totals
from cnnzoo.analysis.report import Report
from cnnzoo.reference import load_table
from cnnzoo.text import table

NUMBER_WIDTH = 15  # characters at least, for the measured numbers' column


@dataclass(frozen=True)
class Explanation:
    """What ``cnnzoo explain TOPIC`` prints.

    Args:
        title: one line.
        formulas: the formulas, as text lines.
        numbers: ``(label, value)`` pairs measured by the profiler (values are ints, floats or
            text).
        modules: ``(label, module description)`` pairs: what was measured.
        table: optional rows (first row is the header) for a topic that is a table.
        notes: lines printed under the table.
    """

    title: str
    formulas: tuple[str, ...]
    numbers: tuple[tuple[str, int | float | str], ...]
    modules: tuple[tuple[str, str], ...]
    table: tuple[tuple[str, ...], ...] = ()
    notes: tuple[str, ...] = ()


def _measure(module: nn.Module, input_size: tuple[int, int, int]) -> Report:
    """Profile a module built here (moved to the meta device in place: it is ours to move)."""
    return profile(module.to("meta"), input_size)


def _last_field(report: Report) -> int:
    field = report.final_receptive_field
    assert field is not None and field.h.size == field.w.size
    return field.h.size


def receptive_field(channels: int = 64, size: int = 56) -> Explanation:
    """Three stacked 3x3 convolutions see a 7x7 window, with 27 D^2 instead of 49 D^2 weights
    (VGG, Sec. 2.3)."""
    stack = nn.Sequential(
        *(nn.Conv2d(channels, channels, 3, padding=1, bias=False) for _ in range(3))
    )
    single = nn.Conv2d(channels, channels, 7, padding=3, bias=False)
    a, b = _measure(stack, (channels, size, size)), _measure(single, (channels, size, size))
    ratio = b.totals.params / a.totals.params
    return Explanation(
        title="Three stacked 3x3 convolutions vs one 7x7 convolution (VGG, Sec. 2.3)",
        formulas=(
            "receptive field of n stacked kxk stride-1 convolutions: 1 + n (k - 1)",
            f"parameters, D = {channels} channels in and out, no bias: 3 (3*3*D*D) vs 7*7*D*D",
            "ratio = 49 / 27",
        ),
        numbers=(
            ("receptive field of the 3x3 stack", _last_field(a)),
            ("receptive field of the 7x7 convolution", _last_field(b)),
            ("parameters of the 3x3 stack", a.totals.params),
            ("parameters of the 7x7 convolution", b.totals.params),
            ("parameter ratio 7x7 / stack", round(ratio, 2)),
            (f"MACs of the 3x3 stack at {size}x{size}", a.totals.macs_conv_linear),
            (f"MACs of the 7x7 convolution at {size}x{size}", b.totals.macs_conv_linear),
        ),
        modules=(("3x3 stack", repr(stack)), ("7x7", repr(single))),
    )


def inception(
    channels: int = 192, size: int = 28, filters: int = 32, reduction: int = 16
) -> Explanation:
    """The 5x5 branch of an Inception module with and without its 1x1 reduction (GoogLeNet,
    Sec. 4; the 28x28x192 example of GoogLeNet's 3a module)."""
    naive = nn.Conv2d(channels, filters, 5, padding=2)
    bottleneck = nn.Sequential(
        nn.Conv2d(channels, reduction, 1), nn.Conv2d(reduction, filters, 5, padding=2)
    )
    shape = (channels, size, size)
    a, b = _measure(naive, shape), _measure(bottleneck, shape)
    return Explanation(
        title=f"5x5 Inception branch on {size}x{size}x{channels}: naive vs 1x1 bottleneck",
        formulas=(
            f"naive: H*W*F*5*5*C = {size}*{size}*{filters}*5*5*{channels}",
            f"bottleneck: H*W*R*C + H*W*F*5*5*R = {size}*{size}*{reduction}*{channels} + "
            f"{size}*{size}*{filters}*5*5*{reduction}",
        ),
        numbers=(
            ("MACs, naive 5x5 branch", a.totals.macs_conv_linear),
            ("MACs, 1x1 reduction then 5x5", b.totals.macs_conv_linear),
            ("saving", round(a.totals.macs_conv_linear / b.totals.macs_conv_linear, 2)),
            ("parameters, naive", a.totals.params),
            ("parameters, bottleneck", b.totals.params),
        ),
        modules=(("naive", repr(naive)), ("bottleneck", repr(bottleneck))),
    )


def separable(
    kernel: int = 3, in_channels: int = 32, out_channels: int = 64, size: int = 112
) -> Explanation:
    """Standard vs depthwise separable convolution (MobileNet, Sec. 3.1). The defaults are the
    first separable layer of MobileNet's Table 1 (3x3 dw on 112x112x32, then 1x1 to 64)."""
    k, m, n = kernel, in_channels, out_channels
    standard = nn.Conv2d(m, n, k, padding=k // 2, bias=False)
    separable_ = nn.Sequential(
        nn.Conv2d(m, m, k, padding=k // 2, groups=m, bias=False),  # depthwise
        nn.Conv2d(m, n, 1, bias=False),  # pointwise
    )
    shape = (m, size, size)
    a, b = _measure(standard, shape), _measure(separable_, shape)
    return Explanation(
        title=f"Standard {k}x{k} convolution vs depthwise separable, M={m} -> N={n}, "
        f"{size}x{size} maps",
        formulas=(
            f"parameters: standard K*K*M*N = {k}*{k}*{m}*{n}; separable K*K*M + M*N = M*(K*K+N)",
            "MACs: the parameters times the output positions F*F (stride 1)",
            f"separable / standard = 1/N + 1/K^2 = 1/{n} + 1/{k * k}",
        ),
        numbers=(
            ("parameters, standard", a.totals.params),
            ("parameters, depthwise separable", b.totals.params),
            ("MACs, standard", a.totals.macs_conv_linear),
            ("MACs, depthwise separable", b.totals.macs_conv_linear),
            ("cost ratio separable / standard", round(b.totals.params / a.totals.params, 4)),
            ("1/N + 1/K^2", round(1 / n + 1 / (k * k), 4)),
        ),
        modules=(("standard", repr(standard)), ("separable", repr(separable_))),
    )


MOBILENET_ALPHAS = (1.0, 0.75, 0.5, 0.25)  # MobileNet Table 6: width multipliers
MOBILENET_RESOLUTIONS = (224, 192, 160, 128)  # MobileNet Table 7: rho = 1, 6/7, 5/7, 4/7


def mobilenet(
    alphas: tuple[float, ...] = MOBILENET_ALPHAS,
    resolutions: tuple[int, ...] = MOBILENET_RESOLUTIONS,
) -> Explanation:
    """Parameters and mult-adds of MobileNet v1 for each width multiplier alpha and input
    resolution (rho = resolution / 224), measured on ``mobilenet_v1`` (Tables 6 and 7)."""
    paper = {
        (row["width_mult"], row["resolution"]): row for row in load_table()["mobilenet_v1_grid"]
    }
    header = ("alpha", "resolution", "rho", "parameters", "mult-adds (M)", "paper", "paper top-1")
    rows = []
    for alpha in alphas:
        for res in resolutions:
            totals = variant_totals("mobilenet_v1", (3, res, res), (("width_mult", alpha),))
            quoted = paper.get((alpha, res), {})
            rows.append(
                (
                    f"{alpha:g}",
                    str(res),
                    f"{res / 224:.3f}",
                    f"{totals.params:,}",
                    f"{totals.macs_conv_linear / 1e6:.1f}",
                    quoted.get("paper_mult_adds") or "-",
                    quoted.get("paper_top1") or "-",
                )
            )
    return Explanation(
        title="MobileNet v1: width multiplier alpha and resolution multiplier rho",
        formulas=(
            "cost of a separable layer: "
            "D_K*D_K*(alpha M)*(rho D_F)^2 + (alpha M)(alpha N)(rho D_F)^2",
            "parameters scale with about alpha^2 and not with rho; mult-adds with alpha^2 rho^2",
        ),
        numbers=(),
        modules=(("network", "cnnzoo mobilenet_v1(width_mult=alpha) at 3 x res x res"),),
        table=(header, *rows),
        notes=("paper: mult-adds and ImageNet top-1 accuracy (%) of Tables 6-9, where reported",),
    )


TOPICS: dict[str, Callable[..., Explanation]] = {
    "receptive-field": receptive_field,
    "inception": inception,
    "separable": separable,
    "mobilenet": mobilenet,
}


def render_explanation(exp: Explanation, *, show_modules: bool = True) -> str:
    """An explanation as plain text."""
    lines = [exp.title, "=" * len(exp.title), "", "Formula:"]
    lines += [f"  {f}" for f in exp.formulas]
    if exp.numbers:
        lines += ["", "Measured by the profiler:"]
        numbers = []
        for label, value in exp.numbers:
            text = f"{value:,}" if isinstance(value, int) else str(value)
            numbers.append((label, text.rjust(NUMBER_WIDTH)))
        lines.append(table(numbers, align="<>", indent="  "))
    if exp.table:
        lines += ["", table(exp.table, align=">", indent="  ")]
        lines += [f"  {note}" for note in exp.notes]
    if show_modules:
        lines += ["", "Modules measured:"]
        for label, text in exp.modules:
            body = text.replace("\n", "\n    ")
            lines.append(f"  {label}: {body}")
    return "\n".join(lines) + "\n"
