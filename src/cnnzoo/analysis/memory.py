"""Peak memory of inference and of one training step, predicted on the meta device.

How it works: the network runs on PyTorch's meta device (shapes, no data, no arithmetic) under the
profiler's ``TorchDispatchMode``, which hands every aten operation's result to an
:class:`_Allocations` ledger. A result whose storage the ledger has not seen is an allocation of
``storage.nbytes()``; a ``weakref.finalize`` on that storage frees it when its last owner dies,
whoever the owner is: a Python tensor, a view, autograd's saved tensors, a parameter's ``.grad``,
the optimizer's state. Views and in-place results share a storage already counted and allocate
nothing. Meta storages are real ``StorageImpl`` objects with a real lifetime, only without data,
so the ledger's live bytes are what a caching-free allocator would hold, operation by operation.

What is simulated, in the training engine's order (``cnnzoo.train.engine.train_one_epoch``):

- **inference**: ``model.eval()``, ``torch.no_grad()``, one forward pass at batch ``B``;
- **training**: the model in train mode, one warm-up step (so the optimizer state and the
  previous step's gradients exist, as in every step but the first), then the step that is
  measured: forward, cross-entropy of the main logits (plus ``aux_weight`` x the auxiliary
  heads'), ``zero_grad(set_to_none=True)``, backward, ``optimizer.step()``. Its peak is the
  steady-state peak a user hits on every step after the first.

What it cannot see is memory inside a single kernel that is not one of its results: the
workspaces of real CPU or CUDA kernels (oneDNN scratchpads, im2col buffers, cuDNN workspaces),
and an allocator's caching and rounding (CUDA's caching allocator rounds to 512 bytes and keeps
freed blocks; the CPU allocator frees at once). ``benchmarks/memory.py`` measures how much that
is, against the CPU allocator's real peak (``benchmarks/results/memory.md``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._pytree import tree_leaves

from cnnzoo.analysis.ops import op_name
from cnnzoo.analysis.profiler import _copy_to, _Recorder
from cnnzoo.analysis.report import binary_size
from cnnzoo.registry import create_model, get_model_spec

# Optimizer name -> factory. Only the terms that change memory are set: momentum (SGD keeps one
# buffer per parameter, AdamW two: exp_avg and exp_avg_sq) and a non-zero weight decay (SGD adds
# it out of place, one parameter-sized temporary at a time). ``foreach=False``: the per-parameter
# loop PyTorch picks by default on the CPU; on CUDA it picks ``foreach``, whose temporaries are
# lists over all parameters at once (not simulated here). The rates do not change memory.
OPTIMIZERS: dict[str, Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]] = {
    "sgd": lambda params: torch.optim.SGD(
        params, lr=0.1, momentum=0.9, weight_decay=1e-4, foreach=False
    ),
    "adamw": lambda params: torch.optim.AdamW(params, lr=1e-3, weight_decay=0.05, foreach=False),
}
PHASES = ("forward", "backward", "optimizer step")
# Kernels that first copy a strided input (a slice, a transposed view) into a contiguous buffer
# and hold it while their output exists: ATen's pooling and convolution kernels call
# ``input.contiguous()`` inside the kernel, below the dispatch mode, so on meta the copy is never
# made and the ledger adds it (NASNet's factorized reduction pools a shifted slice ``x[:, :, 1:,
# 1:]``; benchmarks/results/memory.md).
COPIES_STRIDED_INPUT = frozenset({"avg_pool2d", "max_pool2d_with_indices", "convolution"})


@dataclass(frozen=True)
class MemoryEstimate:
    """The predicted peak of one inference forward pass or one training step.

    The ``*_at_peak`` fields split :attr:`peak_bytes` exactly: what was live at the moment of the
    peak, by kind. For inference, ``activations_at_peak`` is every activation then live; for
    training it is only those the forward pass kept for backward.

    Args:
        model: the model's name.
        mode: ``"inference"`` or ``"training"``.
        batch_size: images per batch.
        input_size: ``(C, H, W)`` of one image.
        dtype: the element type of the weights and activations.
        optimizer: the optimizer of the training step (``None`` for inference).
        peak_bytes: the most bytes live at once.
        peak_phase: where the peak falls: ``"forward"``, ``"backward"`` or ``"optimizer step"``.
        phase_peaks: the peak of each phase.
        weights_at_peak: parameters and buffers.
        input_at_peak: the batch (and its labels).
        gradients_at_peak: parameters' ``.grad``.
        optimizer_state_at_peak: the optimizer's state (momentum, Adam's moments, step counts).
        activations_at_peak: activations (training: those saved for backward).
        transient_at_peak: everything else then live: intermediate results not kept for
            backward, gradients of activations in flight, the optimizer's temporaries.
        gradients_bytes: all gradients (training).
        optimizer_state_bytes: the whole optimizer state (training).
        saved_for_backward_bytes: what the forward pass leaves live for backward (training).
        start_bytes: what is live when the pass starts: weights and batch, and for a training
            step the previous step's gradients and the optimizer state.
    """

    model: str
    mode: str
    batch_size: int
    input_size: tuple[int, int, int]
    dtype: str
    optimizer: str | None
    peak_bytes: int
    peak_phase: str
    phase_peaks: dict[str, int]
    weights_at_peak: int
    input_at_peak: int
    gradients_at_peak: int
    optimizer_state_at_peak: int
    activations_at_peak: int
    transient_at_peak: int
    gradients_bytes: int = 0
    optimizer_state_bytes: int = 0
    saved_for_backward_bytes: int = 0
    start_bytes: int = 0

    def breakdown(self) -> dict[str, int]:
        """The parts of the peak by kind (they sum to :attr:`peak_bytes`)."""
        return {
            "weights": self.weights_at_peak,
            "input": self.input_at_peak,
            "gradients": self.gradients_at_peak,
            "optimizer state": self.optimizer_state_at_peak,
            "activations": self.activations_at_peak,
            "transient": self.transient_at_peak,
        }


def predict_memory(
    model: nn.Module | str,
    batch_size: int = 1,
    input_size: tuple[int, int, int] | None = None,
    *,
    train: bool = False,
    optimizer: str = "sgd",
    aux_weight: float = 0.0,
    dtype: torch.dtype = torch.float32,
    model_kwargs: Mapping[str, Any] | None = None,
) -> MemoryEstimate:
    """Predict the peak memory of an inference pass or of one training step, on the meta device.

    Args:
        model: a module (simulated as a meta copy; the caller's module is not changed) or a
            registry name (built on the meta device with ``model_kwargs``).
        batch_size: images per batch.
        input_size: ``(C, H, W)``; for a registry name it defaults to the model's standard input.
        train: simulate one steady-state training step instead of an inference pass.
        optimizer: a key of :data:`OPTIMIZERS` (training).
        aux_weight: weight of the auxiliary heads' losses, for a network that returns
            ``AuxOutputs`` in train mode (0: their outputs are computed but not trained, as the
            engine does).
        dtype: element type of the weights, the input and the activations.
        model_kwargs: builder options for a registry name.

    Returns:
        The :class:`MemoryEstimate`.

    Raises:
        ValueError: ``input_size`` is missing for a module, the batch size is below 1, or the
            optimizer is unknown.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    if train and optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {sorted(OPTIMIZERS)}")
    if isinstance(model, str):
        name = model
        input_size = tuple(input_size or get_model_spec(name).input_size)
        with torch.device("meta"):
            module = create_model(name, **{"in_chans": input_size[0], **(model_kwargs or {})})
        module.to(dtype=dtype)
    else:
        if input_size is None:
            raise ValueError("input_size (C, H, W) is required for a module")
        name = getattr(model, "model_name", "") or type(model).__name__
        module = _copy_to(model, torch.device("meta"), dtype)
    ledger = _Allocations()
    weights = ledger.adopt(_tensors(module))
    x = torch.zeros((batch_size, *input_size), dtype=dtype, device="meta")
    labels = torch.zeros(batch_size, dtype=torch.long, device="meta")
    inputs = ledger.adopt([x, labels] if train else [x])
    parts = {"weights": weights, "input": inputs}
    common = dict(model=name, batch_size=batch_size, input_size=tuple(input_size))
    common["dtype"] = str(dtype).removeprefix("torch.")
    if not train:
        module.eval()
        with torch.no_grad(), _Recorder(ledger):
            ledger.mark("forward")
            module(x)
            ledger.mark(None)
        return _estimate(ledger, parts, mode="inference", optimizer=None, **common)
    module.train()  # ``module`` is this function's own meta copy
    opt = OPTIMIZERS[optimizer](p for p in module.parameters() if p.requires_grad)
    with _Recorder(ledger):
        train_step(module, x, labels, opt, aux_weight)  # warm-up: state and gradients exist
        parts["gradients"] = ledger.serials(_grads(module))
        train_step(module, x, labels, opt, aux_weight, ledger.mark)
    grads = ledger.serials(_grads(module))
    parts["gradients"] |= grads
    parts["optimizer state"] = ledger.serials(tree_leaves(list(opt.state.values())))
    return _estimate(
        ledger,
        parts,
        mode="training",
        optimizer=optimizer,
        gradients_bytes=sum(ledger.sizes[s] for s in grads),
        optimizer_state_bytes=sum(ledger.sizes[s] for s in parts["optimizer state"]),
        **common,
    )


def one_pass(
    module: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    train: bool = False,
    optimizer: str = "sgd",
    aux_weight: float = 0.0,
) -> Callable[[], None]:
    """What :func:`predict_memory` simulates, on real tensors: sets ``module``'s mode and returns
    a function that runs one inference pass (``no_grad``) or one :func:`train_step` with a new
    optimizer of :data:`OPTIMIZERS` (its state comes to exist on the first call)."""
    module.train(train)
    if not train:

        def infer() -> None:
            with torch.no_grad():
                module(x)

        return infer
    opt = OPTIMIZERS[optimizer](p for p in module.parameters() if p.requires_grad)
    return lambda: train_step(module, x, labels, opt, aux_weight)


def measure_peak(
    module: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    train: bool = False,
    optimizer: str = "sgd",
    aux_weight: float = 0.0,
) -> dict[str, int]:
    """Measure what :func:`predict_memory` predicts, for real, on ``x``'s device.

    Runs as the prediction does: inference (``eval``, ``no_grad``) or a training step (train
    mode, :func:`train_step`), once to warm up and once measured. On the CPU every allocation and
    release of PyTorch's CPU allocator is read from ``torch.profiler`` (``profile_memory=True``);
    on CUDA, ``torch.cuda.max_memory_allocated``. Call it in a fresh process when peaks must not
    mix (the CPU allocator caches nothing, so on the CPU a second call is clean too).

    Args:
        module: the network, on ``x``'s device (its train/eval flags are left as this sets them).
        x, labels: the batch (``labels``: needed for training).
        train, optimizer, aux_weight: as for :func:`predict_memory`.

    Returns:
        ``peak`` (bytes live at the measured pass's peak) and ``at_start`` (bytes live when it
        started), both counting the weights and the batch.
    """
    from torch.profiler import ProfilerActivity, profile, record_function

    window = "cnnzoo.memory.measured"
    run = one_pass(module, x, labels, train=train, optimizer=optimizer, aux_weight=aux_weight)
    if x.device.type == "cuda":
        run()
        torch.cuda.synchronize(x.device)
        torch.cuda.reset_peak_memory_stats(x.device)
        at_start = torch.cuda.memory_allocated(x.device)
        run()
        return {"peak": torch.cuda.max_memory_allocated(x.device), "at_start": at_start}
    kept = [*_tensors(module), x, *([labels] if train else [])]
    before = {t.untyped_storage()._cdata: t.untyped_storage().nbytes() for t in kept}
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()  # warm-up: the optimizer state and the gradients come to exist
        with record_function(window):
            run()
    events = prof.profiler.kineto_results.events()
    span = next(e for e in events if e.name() == window)
    memory = sorted(
        ((e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]"),
        key=lambda event: event[0],  # stable: an allocation and a release at the same ns keep order
    )
    live = sum(before.values())
    at_start = None
    peak = 0
    for t, nbytes in memory:
        if t >= span.start_ns() and at_start is None:
            at_start = peak = live
        live += nbytes
        if span.start_ns() <= t <= span.end_ns():
            peak = max(peak, live)
    if at_start is None:
        at_start = peak = live
    return {"peak": peak, "at_start": at_start}


def _tensors(module: nn.Module) -> list[torch.Tensor]:
    return [*module.parameters(), *module.buffers()]


def _grads(module: nn.Module) -> list[torch.Tensor]:
    return [p.grad for p in module.parameters() if p.grad is not None]


def train_step(
    module: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    aux_weight: float = 0.0,
    mark: Callable[[str | None], None] = lambda phase: None,
) -> None:
    """One training step in the engine's order (``cnnzoo.train.engine.train_one_epoch``):
    forward, loss, ``zero_grad(set_to_none=True)``, backward, ``optimizer.step()``.

    Args:
        module: the network, in train mode.
        x, labels: the batch.
        optimizer: its optimizer.
        aux_weight: weight of the auxiliary heads' losses (0: not in the loss).
        mark: called with each phase's name as it starts (see :data:`PHASES`), then ``None``.
    """
    mark("forward")
    output = module(x)
    logits, aux = (
        (output.logits, output.aux_logits) if hasattr(output, "aux_logits") else (output, ())
    )
    loss = F.cross_entropy(logits, labels)
    if aux and aux_weight:
        loss = loss + aux_weight * sum(F.cross_entropy(a, labels) for a in aux)
    optimizer.zero_grad(set_to_none=True)
    mark("backward")
    loss.backward()
    mark("optimizer step")
    optimizer.step()
    mark(None)


class _Allocations:
    """A ledger of storages: when each was allocated and freed, in a clock of events.

    It is the profiler's dispatch recorder's tracer: :meth:`on_op` sees every aten result.
    """

    def __init__(self) -> None:
        self.live: dict[int, int] = {}  # StorageImpl address -> serial, while it lives
        self.sizes: list[int] = []  # serial -> bytes
        self.born: list[int] = []  # serial -> clock of its allocation
        self.died: list[float] = []  # serial -> clock of its release (inf: still live)
        self.trace: list[tuple[int, int, str | None]] = []  # (clock, live bytes, phase)
        self.clock = 0
        self.bytes = 0
        self.phase: str | None = None
        self.phase_start: dict[str, int] = {}
        self.phase_end: dict[str, int] = {}

    def mark(self, phase: str | None) -> None:
        """Start ``phase`` (``None``: the end of the last one) at the current clock."""
        if self.phase is not None:
            self.phase_end[self.phase] = self.clock
        self.phase = phase
        if phase is not None:
            self.phase_start[phase] = self.clock
            self.trace.append((self.clock, self.bytes, phase))

    def adopt(self, tensors: Iterable[torch.Tensor]) -> set[int]:
        """Count tensors made outside the dispatch mode (weights, input); their serials."""
        return {self._track(t) for t in tensors}

    def serials(self, tensors: Iterable[Any]) -> set[int]:
        """The serials of the live storages of ``tensors`` (non-tensors are skipped)."""
        return {
            self.live[t.untyped_storage()._cdata]
            for t in tensors
            if isinstance(t, torch.Tensor) and t.untyped_storage()._cdata in self.live
        }

    def on_op(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self._track(t)
        x = args[0] if args else None
        if (
            op_name(func) in COPIES_STRIDED_INPUT
            and isinstance(x, torch.Tensor)
            and not (x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last))
        ):
            self.clock += 1  # the kernel's contiguous copy, live beside the output, then freed
            self.trace.append((self.clock, self.bytes + x.numel() * x.element_size(), self.phase))

    def _track(self, t: torch.Tensor) -> int:
        storage = t.untyped_storage()
        key = storage._cdata
        if key in self.live:
            return self.live[key]
        serial = len(self.sizes)
        self.live[key] = serial
        self.sizes.append(storage.nbytes())
        self.clock += 1
        self.born.append(self.clock)
        self.died.append(float("inf"))
        self.bytes += storage.nbytes()
        self.trace.append((self.clock, self.bytes, self.phase))
        weakref.finalize(storage, self._free, key, serial).atexit = False
        return serial

    def _free(self, key: int, serial: int) -> None:
        if self.live.get(key) == serial:
            del self.live[key]
        self.clock += 1
        self.died[serial] = self.clock
        self.bytes -= self.sizes[serial]
        self.trace.append((self.clock, self.bytes, self.phase))

    def live_at(self, clock: int, serials: Iterable[int]) -> int:
        """Bytes of ``serials`` live at ``clock``."""
        return sum(self.sizes[s] for s in serials if self.born[s] <= clock < self.died[s])

    def born_in(self, phase: str) -> set[int]:
        start, end = self.phase_start[phase], self.phase_end[phase]
        return {s for s, born in enumerate(self.born) if start < born <= end}


def _estimate(ledger: _Allocations, parts: dict[str, set[int]], **fields: Any) -> MemoryEstimate:
    """The peak over the measured phases and what was live at its moment."""
    phase_peaks: dict[str, int] = {}
    peak_clock, peak, peak_phase = 0, -1, ""
    for clock, live, phase in ledger.trace:
        if phase is None:
            continue
        phase_peaks[phase] = max(phase_peaks.get(phase, 0), live)
        if live > peak:
            peak_clock, peak, peak_phase = clock, live, phase
    training = fields["mode"] == "training"
    if training:
        forward_end = ledger.phase_end["forward"]
        saved = {s for s in ledger.born_in("forward") if ledger.died[s] > forward_end}
    else:
        saved = ledger.born_in("forward")
    at_peak = {kind: ledger.live_at(peak_clock, serials) for kind, serials in parts.items()}
    activations = ledger.live_at(peak_clock, saved)
    grads, state = at_peak.get("gradients", 0), at_peak.get("optimizer state", 0)
    known = at_peak["weights"] + at_peak["input"] + grads + state + activations
    return MemoryEstimate(
        peak_bytes=peak,
        peak_phase=peak_phase,
        phase_peaks={p: phase_peaks[p] for p in PHASES if p in phase_peaks},
        weights_at_peak=at_peak["weights"],
        input_at_peak=at_peak["input"],
        gradients_at_peak=grads,
        optimizer_state_at_peak=state,
        activations_at_peak=activations,
        transient_at_peak=peak - known,
        start_bytes=next(live for clock, live, phase in ledger.trace if phase is not None),
        saved_for_backward_bytes=ledger.live_at(ledger.phase_end["forward"], saved)
        if training
        else 0,
        **fields,
    )


def render_memory(estimates: Iterable[MemoryEstimate]) -> str:
    """The estimates as text: for each, the peak, what was live at it, and the step's totals."""
    lines = []
    for e in estimates:
        what = "inference" if e.mode == "inference" else f"one training step ({e.optimizer})"
        lines.append(
            f"peak memory, {what}, batch {e.batch_size}: {binary_size(e.peak_bytes)}"
            f" (in the {e.peak_phase})"
        )
        lines.append("  live at the peak:")
        for kind, size in e.breakdown().items():
            if size or kind in ("weights", "activations"):
                lines.append(f"    {kind:<26}{binary_size(size):>14}")
        if e.mode == "training":
            lines.append("  in the whole step:")
            totals = {
                "gradients": e.gradients_bytes,
                "optimizer state": e.optimizer_state_bytes,
                "saved for backward": e.saved_for_backward_bytes,
            }
            lines += [f"    {kind:<26}{binary_size(size):>14}" for kind, size in totals.items()]
    return "\n".join(lines) + "\n"
