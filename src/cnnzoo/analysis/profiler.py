"""Per-layer profile of a network from one forward pass on the meta device.

How it works: a ``TorchDispatchMode`` sees every aten operation of one forward pass (eval mode,
batch 1, under ``torch.no_grad``). Forward pre- and post-hooks on every module keep a stack of the
modules running, so each operation is charged to the innermost running leaf module (one without
children). An operation that runs in a container's own ``forward`` (a residual ``+``,
``torch.cat``, ``F.relu``, ``F.pad``, ``mean``) gets a row of its own, named
``<container>.<op>#k`` with type ``functional:<op>``; views and copies make no row (see
:mod:`cnnzoo.analysis.ops`). Receptive fields travel with the tensors in a
``WeakTensorKeyDictionary``, and so does the row that last wrote each tensor: :func:`profile_flow`
returns with the report the :class:`Flow`, which rows fed which (``cnnzoo draw`` draws it). On
meta tensors nothing is computed or allocated, so even the largest networks profile in a second
or two.
"""

from __future__ import annotations

import copy
import functools
import itertools
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakTensorKeyDictionary

from cnnzoo.analysis.ops import OPS, bind, op_name
from cnnzoo.analysis.receptive import INPUT_FIELD
from cnnzoo.analysis.report import ReceptiveField, Report, Row, Totals, collapse
from cnnzoo.registry import create_model, get_model_spec

INPUT = ""  # the producer of the input image in a Flow's edges


@dataclass(frozen=True)
class Flow:
    """Which rows fed which: the data flow of one profiled forward pass.

    Every tensor carries the row that last wrote it (views and copies keep their source's), so
    an edge ``(a, b)`` says that row ``b`` read a tensor row ``a`` wrote: a module's arguments,
    or an operation's tensor operands. A row that read the input image has an edge from
    :data:`INPUT` (``""``).

    Args:
        edges: ``(producer row, consumer row)`` names, once each, in the order they were seen.
        outputs: the rows that wrote the model's output tensors.
    """

    edges: tuple[tuple[str, str], ...]
    outputs: tuple[str, ...]


def profile(
    model: nn.Module | str,
    input_size: tuple[int, int, int] | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "meta",
    stage_depth: int = 1,
    model_kwargs: Mapping[str, Any] | None = None,
    with_flow: bool = False,
) -> Report | tuple[Report, Flow]:
    """Profile one forward pass: per-layer shapes, parameters, MACs, memory and receptive fields.

    Args:
        model: a module, or a registry name (built under ``torch.device(device)`` with
            ``in_chans=input_size[0]`` and ``model_kwargs``). A module whose parameters and
            buffers are already on ``device`` with floating dtype ``dtype`` is profiled in place
            (its train/eval flags are restored afterwards); any other module is profiled as a
            deep copy moved to ``device`` and ``dtype``, so the caller's model is never changed.
            On meta the copy shares no data (each tensor is replaced by an empty meta tensor).
        input_size: ``(C, H, W)`` of one image; for a registry name it defaults to the model's
            standard input.
        dtype: dtype of the input and of the floating parameters; sets the activation memory.
        device: where the forward pass runs; ``"meta"`` computes nothing and allocates nothing.
            Use a real device only for a model whose forward reads tensor values.
        stage_depth: name components kept in :attr:`Report.stages`.
        model_kwargs: builder options for a registry name.
        with_flow: also return the :class:`Flow` between the rows (see :func:`profile_flow`).

    Returns:
        The :class:`~cnnzoo.analysis.report.Report` (with ``with_flow``: and its :class:`Flow`).

    Raises:
        ValueError: ``input_size`` is missing for a module, or the name is unknown.
    """
    device = torch.device(device)
    if isinstance(model, str):
        name = model
        spec = get_model_spec(name)
        input_size = tuple(input_size or spec.input_size)
        with torch.device(device):
            module = create_model(name, **{"in_chans": input_size[0], **(model_kwargs or {})})
        module.to(dtype=dtype)
    else:
        if input_size is None:
            raise ValueError("input_size (C, H, W) is required when profiling a module")
        name = getattr(model, "model_name", "") or type(model).__name__
        input_size = tuple(input_size)
        module = model if _already_on(model, device, dtype) else _copy_to(model, device, dtype)
    if len(input_size) != 3:
        raise ValueError(f"input_size must be (C, H, W), got {input_size}")
    tracer = _Tracer(module)
    with _eval_mode(module), tracer.hooks(), torch.no_grad():
        x = torch.zeros((1, *input_size), dtype=dtype, device=device)
        tracer.fields[x] = INPUT_FIELD
        tracer.depths[x] = 0
        tracer.producers[x] = INPUT
        with _Recorder(tracer):
            out = module(x)
    tracer.outputs = tuple(
        dict.fromkeys(
            tracer.producers[t]
            for t in tree_leaves(out)
            if isinstance(t, torch.Tensor) and t in tracer.producers
        )
    )
    report = tracer.report(name, input_size, dtype, stage_depth)
    return report if not with_flow else (report, Flow(tuple(tracer.edges), tracer.outputs))


def profile_flow(
    model: nn.Module | str,
    input_size: tuple[int, int, int] | None = None,
    *,
    model_kwargs: Mapping[str, Any] | None = None,
) -> tuple[Report, Flow]:
    """:func:`profile` on the meta device, with the data flow between the report's rows.

    Args:
        model: a module, or a registry name (as :func:`profile`).
        input_size: ``(C, H, W)``; for a registry name it defaults to the model's standard input.
        model_kwargs: builder options for a registry name.

    Returns:
        The report (the same as :func:`profile`'s) and its :class:`Flow`.
    """
    return profile(model, input_size, model_kwargs=model_kwargs, with_flow=True)


# --- preparing the module -----------------------------------------------------------------------


@functools.cache
def variant_totals(name: str, input_size: tuple[int, int, int], options: tuple = ()) -> Totals:
    """The totals of ``name`` built with the builder ``options`` (``(key, value)`` pairs) at
    ``input_size``, profiled on the meta device once per process: the width x resolution grids
    of ``plot`` and ``explain`` ask for the same variants."""
    return profile(name, input_size, model_kwargs=dict(options)).totals


def _tensors(module: nn.Module) -> Iterator[torch.Tensor]:
    return itertools.chain(module.parameters(), module.buffers())


def _already_on(module: nn.Module, device: torch.device, dtype: torch.dtype) -> bool:
    return all(
        t.device.type == device.type
        and (device.index is None or t.device.index == device.index)
        and (not t.is_floating_point() or t.dtype == dtype)
        for t in _tensors(module)
    )


def _copy_to(module: nn.Module, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """A deep copy of ``module`` on ``device``; floating tensors in ``dtype``. The tensors are
    given to ``deepcopy`` ready-made, so the original's data is never copied twice (nor at all,
    on meta)."""

    def moved(t: torch.Tensor) -> torch.Tensor:
        target = dtype if t.is_floating_point() else t.dtype
        if device.type == "meta":
            return torch.empty_like(t, device=device, dtype=target)
        return t.detach().to(device=device, dtype=target, copy=True)

    memo: dict[int, Any] = {}
    for p in module.parameters():
        memo[id(p)] = nn.Parameter(moved(p), requires_grad=p.requires_grad)
    for b in module.buffers():
        memo[id(b)] = moved(b)
    return copy.deepcopy(module, memo).to(device)


@contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    flags = {m: m.training for m in module.modules()}
    module.eval()
    try:
        yield
    finally:
        for m, training in flags.items():
            m.training = training


# --- recording ----------------------------------------------------------------------------------


@dataclass
class _OpenRow:
    """A row while the forward pass runs (mutable; frozen into :class:`Row` at the end)."""

    name: str
    type: str
    params_trainable: int = 0
    params_non_trainable: int = 0
    macs_conv_linear: int = 0
    macs_other: int = 0
    output_shape: tuple[int, ...] = ()
    receptive_field: ReceptiveField | None = None
    activation_bytes: int = 0
    allocated_bytes: int = 0
    unknown_ops: list[str] = field(default_factory=list)

    def add_params(self, params: Iterator[nn.Parameter], seen: set[int]) -> None:
        for p in params:
            if id(p) in seen:
                continue
            seen.add(id(p))
            if p.requires_grad:
                self.params_trainable += p.numel()
            else:
                self.params_non_trainable += p.numel()


class _Recorder(TorchDispatchMode):
    """Hands every aten call, with its result, to the tracer."""

    def __init__(self, tracer: _Tracer) -> None:
        super().__init__()
        self.tracer = tracer

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.tracer.on_op(func, args, kwargs, out)
        return out


class _Tracer:
    """State of one profiling run: the module stack, the rows, and the per-tensor facts."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.names = {m: n for n, m in model.named_modules()}
        self.stack: list[tuple[nn.Module, _OpenRow | None]] = []
        self.rows: list[_OpenRow] = []
        self.fields = WeakTensorKeyDictionary()  # tensor -> ReceptiveField, or None if unknown
        self.depths = WeakTensorKeyDictionary()  # tensor -> weight layers on its longest path
        self.fresh = WeakTensorKeyDictionary()  # tensors that are new memory, not yet in a row
        self.calls: Counter[nn.Module] = Counter()
        self.functional_counts: Counter[tuple[str, str]] = Counter()
        self.containers_run: list[nn.Module] = []
        self.first_functional_row: dict[str, _OpenRow] = {}
        self.counted_params: set[int] = set()
        self.max_depth = 0
        self.producers = WeakTensorKeyDictionary()  # tensor -> name of the row that wrote it
        self.edges: dict[tuple[str, str], None] = {}  # (producer, consumer), ordered
        self.outputs: tuple[str, ...] = ()

    @contextmanager
    def hooks(self) -> Iterator[None]:
        handles = []
        for m in self.model.modules():
            handles.append(m.register_forward_pre_hook(self._enter, prepend=True))
            handles.append(m.register_forward_hook(self._leave, always_call=True))
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _enter(self, module: nn.Module, args: Any) -> None:
        calls = self.calls[module]
        self.calls[module] += 1
        row = None
        if next(module.children(), None) is None:
            name = self.names[module] or type(module).__name__
            row = _OpenRow(name if calls == 0 else f"{name}#{calls}", type(module).__name__)
            row.add_params(module.parameters(recurse=False), self.counted_params)
            self.rows.append(row)
            self._read(row, args)
        elif calls == 0:
            self.containers_run.append(module)
        self.stack.append((module, row))

    def _leave(self, module: nn.Module, args: Any, output: Any) -> torch.Tensor | None:
        _, row = self.stack.pop()
        if row is None:
            return None
        if isinstance(output, torch.Tensor) and any(output is a for a in tree_leaves(args)):
            # A module that hands back its argument (Identity, an in-place ReLU): the caller gets
            # an alias of it instead, so the flow tells the reads through this module from the
            # other reads of the same tensor (NASNet's cells read one state several ways).
            output = output.view_as(output)
            self._finish(row, [output])
            return output
        self._finish(row, [t for t in tree_leaves(output) if isinstance(t, torch.Tensor)])
        return None

    def _read(self, row: _OpenRow, tensors: Any) -> None:
        """An edge into ``row`` from the writer of each tensor in ``tensors``."""
        for t in tree_leaves(tensors):
            if isinstance(t, torch.Tensor) and t in self.producers:
                source = self.producers[t]
                if source != row.name:
                    self.edges[(source, row.name)] = None

    def _finish(self, row: _OpenRow, outputs: list[torch.Tensor]) -> None:
        """Record the output as it is now (a later in-place op may change its field)."""
        for t in outputs:
            self.producers[t] = row.name
        if outputs:
            row.output_shape = tuple(outputs[0].shape)
            row.receptive_field = self.fields.get(outputs[0])
        for t in outputs:
            size = t.numel() * t.element_size()
            row.activation_bytes += size
            if self.fresh.pop(t, False):
                row.allocated_bytes += size

    def on_op(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        name = op_name(func)
        rule = OPS.get(name)
        outputs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        if not outputs:
            return  # a metadata query (sizes, strides): nothing computed
        bound = bind(func, args, kwargs, rule) if rule is not None else {}
        self._propagate_field(rule, bound, args, kwargs, outputs)
        self._propagate_depth(rule, args, kwargs, outputs)
        returns = func._schema.returns
        for i, t in enumerate(outputs):
            alias = returns[min(i, len(returns) - 1)].alias_info if returns else None
            if alias is None:
                self.fresh[t] = True
        if rule is not None and rule.kind == "shape":
            self._pass_producer(args, kwargs, outputs)
            return
        module, row = self.stack[-1] if self.stack else (self.model, None)
        functional = row is None
        if functional:
            row = self._functional_row(module, name)
        self._read(row, (args, kwargs))
        for t in outputs:
            self.producers[t] = row.name
        if rule is None:
            row.unknown_ops.append(name)
        elif rule.kind == "conv_linear":
            row.macs_conv_linear += rule.macs(bound, outputs)
        else:
            row.macs_other += rule.macs(bound, outputs)
        if functional:
            self._finish(row, outputs[:1])  # the op's main result, not e.g. pooling indices

    def _pass_producer(self, args, kwargs, outputs) -> None:
        """A view or copy is written by whoever wrote its (first) source."""
        sources = [
            self.producers[t]
            for t in tree_leaves((args, kwargs))
            if isinstance(t, torch.Tensor) and t in self.producers
        ]
        if sources:
            for t in outputs:
                self.producers[t] = sources[0]

    def _functional_row(self, container: nn.Module, op: str) -> _OpenRow:
        parent = self.names.get(container, "")
        k = self.functional_counts[(parent, op)]
        self.functional_counts[(parent, op)] += 1
        row = _OpenRow(f"{parent}.{op}#{k}" if parent else f"{op}#{k}", f"functional:{op}")
        self.first_functional_row.setdefault(parent, row)
        self.rows.append(row)
        return row

    def _propagate_field(self, rule, bound, args, kwargs, outputs) -> None:
        inputs = [
            (t, self.fields[t])
            for t in tree_leaves((args, kwargs))
            if isinstance(t, torch.Tensor) and t in self.fields
        ]
        if not inputs:
            return
        if rule is None or any(f is None for _, f in inputs):
            new = None
        else:
            new = rule.field(bound, inputs, outputs)
        for t in outputs:
            self.fields[t] = new

    def _propagate_depth(self, rule, args, kwargs, outputs) -> None:
        """Longest path in weight layers: the deepest input, plus one for a conv or matmul."""
        depths = [
            self.depths[t]
            for t in tree_leaves((args, kwargs))
            if isinstance(t, torch.Tensor) and t in self.depths
        ]
        if not depths:
            return
        depth = max(depths) + (rule is not None and rule.kind == "conv_linear")
        for t in outputs:
            self.depths[t] = max(depth, self.depths.get(t, 0))
        self.max_depth = max(self.max_depth, depth)

    def report(
        self, name: str, input_size: tuple[int, ...], dtype: torch.dtype, stage_depth: int
    ) -> Report:
        # A container's own parameters go on its first functional row, else its first row.
        for container in self.containers_run:
            prefix = self.names[container]
            target = self.first_functional_row.get(prefix) or next(
                (r for r in self.rows if not prefix or r.name.startswith(prefix + ".")), None
            )
            if target is not None:
                target.add_params(container.parameters(recurse=False), self.counted_params)
        rows = tuple(self._freeze(r) for r in self.rows)
        params = list(self.model.parameters())
        macs_conv = sum(r.macs_conv_linear for r in rows)
        macs_other = sum(r.macs_other for r in rows)
        unknown = [op for r in rows for op in r.unknown_ops]
        totals = Totals(
            params=sum(p.numel() for p in params),
            params_trainable=sum(p.numel() for p in params if p.requires_grad),
            params_in_rows=sum(r.params for r in rows),
            macs_conv_linear=macs_conv,
            macs_other=macs_other,
            flops_conv_linear=2 * macs_conv,
            flops_other=2 * macs_other,
            activation_bytes=sum(r.allocated_bytes for r in rows),
            unknown_op_count=len(unknown),
            unknown_ops=tuple(sorted(set(unknown))),
            depth=self.max_depth,
        )
        module_types = {
            n: type(m).__name__
            for n, m in self.model.named_modules()
            if next(m.children(), None) is not None
        }
        final = next(
            (
                r
                for r in reversed(rows)
                if len(r.output_shape) == 4
                and r.receptive_field is not None
                and not r.receptive_field.is_global
            ),
            None,
        )
        return Report(
            model=name,
            input_size=input_size,
            dtype=str(dtype).removeprefix("torch."),
            rows=rows,
            totals=totals,
            stages=collapse(rows, stage_depth, module_types),
            stage_depth=stage_depth,
            final_receptive_field=final.receptive_field if final else None,
            final_receptive_field_row=final.name if final else None,
            module_types=module_types,
        )

    def _freeze(self, row: _OpenRow) -> Row:
        return Row(
            name=row.name,
            type=row.type,
            output_shape=row.output_shape,
            params_trainable=row.params_trainable,
            params_non_trainable=row.params_non_trainable,
            macs_conv_linear=row.macs_conv_linear,
            macs_other=row.macs_other,
            activation_bytes=row.activation_bytes,
            allocated_bytes=row.allocated_bytes,
            receptive_field=row.receptive_field,
            unknown_ops=tuple(row.unknown_ops),
        )
