"""Receptive-field arithmetic and the propagation rule of each kind of operation.

Conventions (Araujo et al. 2019, "Computing Receptive Fields of Convolutional Neural Networks",
Distill): along each spatial dimension a feature map's field is ``(size r, jump j, start s)``;
input pixel ``i`` spans ``[i, i + 1)``, so the image has ``r = 1, j = 1, s = 0.5``. A window
operation with kernel ``k``, stride ``t``, padding ``p`` (before) and dilation ``d`` gives

    r' = r + (k - 1) * d * j        j' = j * t        s' = s + ((k - 1) / 2 * d - p) * j

Padding counts in ``r`` (a 3x3 convolution on the image has a field of 3 even at the border).
Operations that combine tensors of the same height and width (addition, concatenation along
channels, element-wise functions) take the union of their inputs' intervals
``[s - r / 2, s + r / 2]``: for centred fields this is the largest field over the paths that reach
the output, which is what residual, Inception and NASNet blocks need. An operation that reduces
the spatial dimensions (global pooling, flatten, softmax over space) gives a global field whose
extent is that of all the fields of its input together.

Every rule has the signature ``rule(args, inputs, outputs) -> ReceptiveField | None`` where ``args``
are the operation's arguments by name (see :func:`cnnzoo.analysis.ops.bind`), ``inputs`` the
``(tensor, field)`` pairs of the arguments that carry a field, and ``outputs`` the output tensors.
``None`` means unknown. The spatial dimensions are the last two of a tensor of 3 or more dims.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from cnnzoo.analysis.report import FieldDim, ReceptiveField

Inputs = Sequence[tuple[torch.Tensor, ReceptiveField]]

INPUT_FIELD = ReceptiveField(h=FieldDim(1, 1, 0.5), w=FieldDim(1, 1, 0.5))


# --- arithmetic ---------------------------------------------------------------------------------


def window(
    field: FieldDim, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> FieldDim:
    """The field after a sliding window (convolution, pooling) along one dimension."""
    return FieldDim(
        size=field.size + (kernel - 1) * dilation * field.jump,
        jump=field.jump * stride,
        start=field.start + ((kernel - 1) / 2 * dilation - padding) * field.jump,
    )


def reduce_all(field: ReceptiveField, spatial: Sequence[int]) -> ReceptiveField:
    """The global field of a value computed from a whole map of height x width ``spatial``."""
    if field.is_global:
        return field
    h, w = (window(f, kernel=n, stride=n) for f, n in zip((field.h, field.w), spatial, strict=True))
    return ReceptiveField(h, w, is_global=True)


def union(fields: Sequence[ReceptiveField]) -> ReceptiveField:
    """The smallest field containing all ``fields`` (jump: the largest of theirs)."""
    if len(fields) == 1:
        return fields[0]

    def one_dim(dims: list[FieldDim]) -> FieldDim:
        lo = min(f.start - f.size / 2 for f in dims)
        hi = max(f.start + f.size / 2 for f in dims)
        return FieldDim(size=round(hi - lo), jump=max(f.jump for f in dims), start=(lo + hi) / 2)

    return ReceptiveField(
        one_dim([f.h for f in fields]),
        one_dim([f.w for f in fields]),
        is_global=any(f.is_global for f in fields),
    )


def _spatial(t: torch.Tensor) -> tuple[int, ...] | None:
    return tuple(t.shape[-2:]) if t.dim() >= 3 else None


def _field_of(inputs: Inputs, tensor: Any) -> ReceptiveField | None:
    """The field of the argument ``tensor`` (the operation's main input), if it has one."""
    return next((f for t, f in inputs if t is tensor), None)


def _last_two(values: Sequence[int], fill: int) -> tuple[int, int]:
    """The entries of a per-dimension tuple that apply to height and width."""
    padded = (fill, fill, *values)
    return padded[-2], padded[-1]


# --- rules --------------------------------------------------------------------------------------


def elementwise_field(
    args: Mapping[str, Any], inputs: Inputs, outputs: Sequence[torch.Tensor]
) -> ReceptiveField | None:
    """Union of the inputs' fields when the output keeps their height and width; a global field
    when it loses them (flatten to 2-D, mean over H and W); unknown for any other change.

    A global input broadcast over the map (the gate of a squeeze-and-excitation block) does not
    widen the field of the aligned inputs: the report keeps the local field, as is usual; only
    when every input is such a broadcast is the output global."""
    out_hw = _spatial(outputs[0])
    parts, broadcast = [], []
    for tensor, field in inputs:
        in_hw = _spatial(tensor)
        if in_hw == out_hw:
            parts.append(field)
        elif field.is_global:
            broadcast.append(field)
        elif in_hw is not None and (out_hw is None or out_hw == (1, 1)):
            parts.append(reduce_all(field, in_hw))
        else:
            return None
    return union(parts or broadcast)


def conv_field(
    args: Mapping[str, Any], inputs: Inputs, outputs: Sequence[torch.Tensor]
) -> ReceptiveField | None:
    """``aten.convolution`` in 2-D; transposed or 1-D/3-D convolutions are unknown."""
    field = _field_of(inputs, args["input"])
    if field is None or field.is_global:
        return field
    if args["transposed"] or args["weight"].dim() != 4:
        return None
    geometry = zip(
        args["weight"].shape[-2:], args["stride"], args["padding"], args["dilation"], strict=True
    )
    h, w = (window(f, *g) for f, g in zip((field.h, field.w), geometry, strict=True))
    return ReceptiveField(h, w)


def pool_field(
    args: Mapping[str, Any], inputs: Inputs, outputs: Sequence[torch.Tensor]
) -> ReceptiveField | None:
    """Max and average pooling of any rank; the window's last two dims act on H and W (the 3-D
    average pool inside ``F.local_response_norm`` has a 1x1 window there)."""
    field = _field_of(inputs, args["self"])
    if field is None or field.is_global:
        return field
    kernel = _last_two(args["kernel_size"], 1)
    stride = _last_two(args["stride"], 1)
    padding = _last_two(args["padding"], 0)
    dilation = _last_two(args.get("dilation", ()), 1)
    geometry = zip(kernel, stride, padding, dilation, strict=True)
    h, w = (window(f, *g) for f, g in zip((field.h, field.w), geometry, strict=True))
    return ReceptiveField(h, w)


def adaptive_pool_field(
    args: Mapping[str, Any], inputs: Inputs, outputs: Sequence[torch.Tensor]
) -> ReceptiveField | None:
    """Adaptive pooling from ``n`` to ``m`` is a window of stride ``n // m`` and kernel
    ``n - (m - 1) * stride`` when ``m`` divides ``n``; otherwise its windows differ in size and
    the output is marked global. An output of 1x1 is global."""
    field = _field_of(inputs, args["self"])
    if field is None or field.is_global:
        return field
    in_hw, out_hw = _spatial(args["self"]), _spatial(outputs[0])
    if out_hw == (1, 1) or any(n % m for n, m in zip(in_hw, out_hw, strict=True)):
        return reduce_all(field, in_hw)
    dims = []
    for f, n, m in zip((field.h, field.w), in_hw, out_hw, strict=True):
        stride = n // m
        dims.append(window(f, kernel=n - (m - 1) * stride, stride=stride))
    return ReceptiveField(*dims)


def pad_field(
    args: Mapping[str, Any], inputs: Inputs, outputs: Sequence[torch.Tensor]
) -> ReceptiveField | None:
    """Padding (``constant_pad_nd``'s ``pad`` or a ``*_pad2d``'s ``padding``, both ordered
    ``(left, right, top, bottom, ...)``) moves the first pixel ``before * jump`` back."""
    field = _field_of(inputs, args["self"])
    if field is None or field.is_global:
        return field
    pad = (*(args["pad"] if "pad" in args else args["padding"]), 0, 0, 0, 0)
    left, top = pad[0], pad[2]
    return ReceptiveField(
        FieldDim(field.h.size, field.h.jump, field.h.start - top * field.h.jump),
        FieldDim(field.w.size, field.w.jump, field.w.start - left * field.w.jump),
    )


def slice_field(
    args: Mapping[str, Any], inputs: Inputs, outputs: Sequence[torch.Tensor]
) -> ReceptiveField | None:
    """``x[..., a::t]`` along H or W starts ``a`` pixels later and multiplies the jump by ``t``."""
    source = args["self"]
    field = _field_of(inputs, source)
    if field is None or field.is_global or source.dim() < 3:
        return field
    dim = args["dim"] % source.dim()
    if dim < source.dim() - 2:
        return field
    length = source.shape[dim]
    begin = 0 if args["start"] is None else args["start"]
    begin = min(max(begin + length if begin < 0 else begin, 0), length)
    old = field.h if dim == source.dim() - 2 else field.w
    new = FieldDim(old.size, old.jump * args["step"], old.start + begin * old.jump)
    if dim == source.dim() - 2:
        return ReceptiveField(new, field.w)
    return ReceptiveField(field.h, new)


def _along_spatial_dim(args: Mapping[str, Any]) -> bool:
    source = args["self"]
    return source.dim() >= 3 and args["dim"] % source.dim() >= source.dim() - 2


def softmax_field(
    args: Mapping[str, Any], inputs: Inputs, outputs: Sequence[torch.Tensor]
) -> ReceptiveField | None:
    """Softmax over H or W makes every value depend on the whole map: global."""
    field = _field_of(inputs, args["self"])
    if field is not None and _along_spatial_dim(args):
        return reduce_all(field, _spatial(args["self"]))
    return elementwise_field(args, inputs, outputs)


def index_select_field(
    args: Mapping[str, Any], inputs: Inputs, outputs: Sequence[torch.Tensor]
) -> ReceptiveField | None:
    """Selecting channels keeps the field; selecting rows or columns is unknown."""
    if _along_spatial_dim(args):
        return None
    return elementwise_field(args, inputs, outputs)
