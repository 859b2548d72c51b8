"""What each aten operation costs and how it moves the receptive field: the profiler's op table.

The profiler sees every aten operation of a forward pass (``TorchDispatchMode``). :data:`OPS` maps
an operation's name (the overload packet, a trailing ``_`` of in-place variants dropped:
``aten.add_.Tensor`` -> ``"add"``) to an :class:`OpRule`: its kind, one pure MAC formula, and its
receptive-field rule (:mod:`cnnzoo.analysis.receptive`). An operation missing from the table is
reported as unknown, never counted as zero. Arguments are bound to their schema names and the
window hyper-parameters normalised once (:func:`bind`) before any formula sees them, so
``max_pool2d(kernel_size=[2])`` is a 2x2 window with stride 2.

MAC conventions (one MAC = one multiply-accumulate; FLOPs are always reported as 2 x MACs). The
``conv`` column is ``macs_conv_linear``, ``other`` is ``macs_other``:

=====================================  ======  ===============================================
operation (aten)                       column  MACs
=====================================  ======  ===============================================
convolution                            conv    out_elems * C_in/groups * prod(kernel); stride
                                               and dilation act through out_elems; transposed:
                                               in_elems * C_out/groups * prod(kernel); bias
                                               adds not counted (as FlopCounterMode)
mm, addmm, bmm, baddbmm (nn.Linear)    conv    M * N * K per matrix product; bias not counted
batch norm (eval: scale and shift)     other   1 per output element
add, sub, rsub, mul, div               other   1 per output element
neg, pow, sqrt, rsqrt, reciprocal,     other   1 per output element (a transcendental too)
exp, log, sigmoid, tanh, silu, gelu,
hardswish, hardsigmoid, leaky_relu,
elu
relu, hardtanh (ReLU6), clamp,         other   0 (comparisons are not multiply-adds)
threshold
max pooling, adaptive max pooling      other   0 (comparisons)
avg pooling (1-D, 2-D, 3-D)            other   prod(kernel) per output element
adaptive avg pooling                   other   sum of all window sizes (exact)
mean, sum                              other   1 per input element
softmax, log_softmax                   other   3 per element (exp, sum, divide)
cat, stack, padding, index_select      other   0 (data movement; still a row)
view, t, transpose, slice, clone,      -       0, and no row of their own (kind ``"shape"``)
empty, zeros, ... (views, copies,
allocations)
=====================================  ======  ===============================================

Local response normalisation has no rule of its own: ``F.local_response_norm`` runs as ``mul``,
``constant_pad_nd``, ``avg_pool3d`` (a window over channels), ``add``, ``pow`` and ``div``, each
counted by its line above. Not in the table, so reported as unknown: layer and group norm,
upsampling, dropout in training mode (``bernoulli_``), cumsum, FFTs. Copies that make no row
(``clone``, ``_to_copy``) are not counted in the activation memory either.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

import torch

from cnnzoo.analysis import receptive
from cnnzoo.analysis.receptive import Inputs
from cnnzoo.analysis.report import ReceptiveField

Kind = Literal["conv_linear", "other", "shape"]
MacFormula = Callable[[Mapping[str, Any], Sequence[torch.Tensor]], int]
FieldRule = Callable[[Mapping[str, Any], Inputs, Sequence[torch.Tensor]], ReceptiveField | None]


class OpRule(NamedTuple):
    """How the profiler accounts one aten operation.

    Args:
        kind: ``"conv_linear"`` and ``"other"`` say which MAC column the formula feeds;
            ``"shape"`` marks views, copies and allocations, which cost nothing and make no row.
        macs: pure function ``(args, outputs) -> int``.
        field: receptive-field rule (see :mod:`cnnzoo.analysis.receptive`).
        window_rank: spatial rank of the op's window hyper-parameters (kernel_size, stride,
            padding, dilation), normalised by :func:`bind` to tuples of that length; 0 for none,
            -1 to take it from the weight (convolution).
    """

    kind: Kind
    macs: MacFormula
    field: FieldRule = receptive.elementwise_field
    window_rank: int = 0


def op_name(func: torch._ops.OpOverload) -> str:
    """Table key of an aten overload: ``aten.add_.Tensor`` -> ``"add"``."""
    name = func.overloadpacket.__name__
    return name[:-1] if name.endswith("_") and not name.endswith("__") else name


def _tuple(value: Any, rank: int, default: tuple[int, ...]) -> tuple[int, ...]:
    """An int, a 1-element list or a ``rank``-element list as a ``rank``-tuple."""
    if value is None or (isinstance(value, Sequence) and len(value) == 0):
        return default
    if isinstance(value, int):
        return (value,) * rank
    values = tuple(int(v) for v in value)
    return values * rank if len(values) == 1 else values


def bind(
    func: torch._ops.OpOverload, args: Sequence[Any], kwargs: Mapping[str, Any], rule: OpRule
) -> dict[str, Any]:
    """The arguments of an aten call by schema name, defaults filled in.

    Where ``rule.window_rank`` is set, ``kernel_size``, ``stride``, ``padding`` and ``dilation``
    become tuples of one int per window dimension; an empty ``stride`` (the pooling default)
    becomes the kernel size.
    """
    bound: dict[str, Any] = {}
    for i, argument in enumerate(func._schema.arguments):
        if i < len(args) and not argument.kwarg_only:
            bound[argument.name] = args[i]
        elif argument.name in kwargs:
            bound[argument.name] = kwargs[argument.name]
        elif argument.has_default_value():
            bound[argument.name] = argument.default_value
    rank = rule.window_rank
    if rank == -1:
        rank = bound["weight"].dim() - 2
    if rank > 0:
        kernel = _tuple(bound.get("kernel_size"), rank, (1,) * rank)
        bound["kernel_size"] = kernel
        bound["stride"] = _tuple(bound.get("stride"), rank, kernel)
        bound["padding"] = _tuple(bound.get("padding"), rank, (0,) * rank)
        bound["dilation"] = _tuple(bound.get("dilation"), rank, (1,) * rank)
    return bound


# --- MAC formulas -------------------------------------------------------------------------------


def conv_macs(args: Mapping[str, Any], outputs: Sequence[torch.Tensor]) -> int:
    """Each output element of a convolution sums ``C_in / groups * prod(kernel)`` products; the
    weight's shape ``(C_out, C_in / groups, *kernel)`` holds both factors. A transposed
    convolution (weight ``(C_in, C_out / groups, *kernel)``) spreads each input element instead."""
    per_element = math.prod(args["weight"].shape[1:])
    if args["transposed"]:
        return args["input"].numel() * per_element
    return outputs[0].numel() * per_element


def matmul_macs(args: Mapping[str, Any], outputs: Sequence[torch.Tensor]) -> int:
    """``(..., M, K) @ (..., K, N)``: ``K`` products per output element (``mm``, ``bmm``)."""
    return outputs[0].numel() * args["self"].shape[-1]


def addmm_macs(args: Mapping[str, Any], outputs: Sequence[torch.Tensor]) -> int:
    """``bias + mat1 @ mat2`` (``nn.Linear``): ``K`` products per output element."""
    return outputs[0].numel() * args["mat1"].shape[-1]


def baddbmm_macs(args: Mapping[str, Any], outputs: Sequence[torch.Tensor]) -> int:
    """``input + batch1 @ batch2``: ``K`` products per output element."""
    return outputs[0].numel() * args["batch1"].shape[-1]


def per_output_element(args: Mapping[str, Any], outputs: Sequence[torch.Tensor]) -> int:
    """One MAC per element of the (first) output: element-wise arithmetic, batch norm."""
    return outputs[0].numel()


def per_input_element(args: Mapping[str, Any], outputs: Sequence[torch.Tensor]) -> int:
    """One add per input element: reductions (``mean``, ``sum``)."""
    return args["self"].numel()


def softmax_macs(args: Mapping[str, Any], outputs: Sequence[torch.Tensor]) -> int:
    """Exponential, running sum and division: 3 per element."""
    return 3 * outputs[0].numel()


def zero_macs(args: Mapping[str, Any], outputs: Sequence[torch.Tensor]) -> int:
    """Comparisons, selections and data movement: no multiply-adds."""
    return 0


def avg_pool_macs(args: Mapping[str, Any], outputs: Sequence[torch.Tensor]) -> int:
    """Each output sums its window (``prod(kernel)`` adds, the last one also scales)."""
    return outputs[0].numel() * math.prod(args["kernel_size"])


def adaptive_avg_pool_macs(args: Mapping[str, Any], outputs: Sequence[torch.Tensor]) -> int:
    """Exact: window ``i`` of ``m`` over ``n`` spans ``[floor(i n / m), ceil((i + 1) n / m))``,
    and the adds of all windows are counted."""
    source, out = args["self"], outputs[0]
    rank = len(args["output_size"])
    in_sizes, out_sizes = source.shape[-rank:], out.shape[-rank:]
    spans = math.prod(
        sum(-(-(i + 1) * n // m) - i * n // m for i in range(m))
        for n, m in zip(in_sizes, out_sizes, strict=True)
    )
    return out.numel() // max(1, math.prod(out_sizes)) * spans


# --- the table ----------------------------------------------------------------------------------


def _rules(names: str, rule: OpRule) -> dict[str, OpRule]:
    return dict.fromkeys(names.split(), rule)


_OTHER_PER_ELEMENT = OpRule("other", per_output_element)
_ZERO = OpRule("other", zero_macs)
_SHAPE = OpRule("shape", zero_macs)

OPS: dict[str, OpRule] = {
    "convolution": OpRule("conv_linear", conv_macs, receptive.conv_field, window_rank=-1),
    "mm": OpRule("conv_linear", matmul_macs),
    "bmm": OpRule("conv_linear", matmul_macs),
    "addmm": OpRule("conv_linear", addmm_macs),
    "baddbmm": OpRule("conv_linear", baddbmm_macs),
    **_rules(
        "native_batch_norm _native_batch_norm_legit _native_batch_norm_legit_no_training "
        "_batch_norm_no_update _batch_norm_with_update",
        _OTHER_PER_ELEMENT,
    ),
    **_rules(
        "add sub rsub mul div neg pow sqrt rsqrt reciprocal exp log sigmoid tanh silu gelu "
        "hardswish hardsigmoid leaky_relu elu",
        _OTHER_PER_ELEMENT,
    ),
    **_rules("relu hardtanh clamp clamp_min clamp_max threshold", _ZERO),
    **{
        name: OpRule("other", zero_macs, receptive.pool_field, window_rank=rank)
        for name, rank in (
            ("max_pool1d", 1),
            ("max_pool2d", 2),
            ("max_pool2d_with_indices", 2),
            ("max_pool3d", 3),
            ("max_pool3d_with_indices", 3),
        )
    },
    **{
        name: OpRule("other", avg_pool_macs, receptive.pool_field, window_rank=rank)
        for name, rank in (("avg_pool1d", 1), ("avg_pool2d", 2), ("avg_pool3d", 3))
    },
    "_adaptive_avg_pool2d": OpRule("other", adaptive_avg_pool_macs, receptive.adaptive_pool_field),
    "adaptive_max_pool2d": OpRule("other", zero_macs, receptive.adaptive_pool_field),
    "mean": OpRule("other", per_input_element),
    "sum": OpRule("other", per_input_element),
    "_softmax": OpRule("other", softmax_macs, receptive.softmax_field),
    "_log_softmax": OpRule("other", softmax_macs, receptive.softmax_field),
    "_safe_softmax": OpRule("other", softmax_macs, receptive.softmax_field),
    "cat": _ZERO,
    "stack": _ZERO,
    "index_select": OpRule("other", zero_macs, receptive.index_select_field),
    **_rules(
        "constant_pad_nd reflection_pad2d replication_pad2d",
        OpRule("other", zero_macs, receptive.pad_field),
    ),
    "slice": OpRule("shape", zero_macs, receptive.slice_field),
    **_rules(
        "view _unsafe_view _reshape_alias reshape alias detach t transpose permute expand "
        "squeeze unsqueeze select split split_with_sizes unbind as_strided clone _to_copy copy "
        "contiguous lift_fresh lift_fresh_copy empty empty_like empty_strided zeros zeros_like "
        "ones ones_like full full_like fill zero",
        _SHAPE,
    ),
}
