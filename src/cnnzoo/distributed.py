"""Several processes with PyTorch's own engine: ``torchrun --nproc-per-node K -m cnnzoo train``.

``torchrun`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; :func:`setup` joins the process group
(NCCL on CUDA, gloo on CPU) and picks the device. With ``WORLD_SIZE`` unset or 1 nothing is
initialised and every helper here is the identity, so the single-process path pays nothing.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """This process's place: ``rank`` of ``world_size``, and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup() -> DistInfo:
    """Join the process group ``torchrun`` describes (if any) and choose the device.

    Returns:
        The process's :class:`DistInfo`; the device is ``cuda:LOCAL_RANK`` when CUDA is available,
        else the CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank, world_size, local_rank, device)


def cleanup(info: DistInfo) -> None:
    """Leave the process group joined by :func:`setup`, all ranks together (a rank that tears
    its connections down while another still writes its files can abort the other)."""
    if info.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The sum of ``tensor`` over all ranks (a new tensor; the input is left alone)."""
    if not info.distributed:
        return tensor.clone()
    out = tensor.to(info.device, copy=True)
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.to(tensor.device)


def all_true(flag: bool, info: DistInfo) -> bool:
    """Whether ``flag`` holds on every rank (so that all ranks take the same branch)."""
    if not info.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def all_true_each(flags: tuple[bool, ...], info: DistInfo) -> tuple[bool, ...]:
    """For each of ``flags``, whether it holds on every rank: :func:`all_true` for several flags
    in one all-reduce (the loss check and the stop request travel together)."""
    if not info.distributed:
        return tuple(flags)
    value = torch.tensor([1.0 if f else 0.0 for f in flags], device=info.device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return tuple(bool(v) for v in value.tolist())


def broadcast_string(value: str, info: DistInfo) -> str:
    """Rank 0's ``value`` on every rank (e.g. the run folder named after rank 0's clock)."""
    if not info.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0, device=info.device)
    return box[0]


def gather_tensors(tensor: torch.Tensor, info: DistInfo) -> list[torch.Tensor]:
    """Every rank's ``tensor`` (same shape and dtype on all ranks), in rank order, on the CPU."""
    if not info.distributed:
        return [tensor.cpu()]
    local = tensor.to(info.device)
    parts = [torch.empty_like(local) for _ in range(info.world_size)]
    dist.all_gather(parts, local)
    return [p.cpu() for p in parts]


def broadcast_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's buffers (batch-norm statistics) to every rank, before evaluating."""
    if info.distributed:
        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=0)


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


@dataclasses.dataclass(frozen=True)
class Runtime:
    """Where and how the steps run.

    Args:
        dist: this process's rank, world size and device.
        amp_dtype: autocast dtype (``None`` for fp32).
        check_every: steps between the checks that the loss is finite.
    """

    dist: DistInfo = dataclasses.field(default_factory=DistInfo)
    amp_dtype: torch.dtype | None = None
    check_every: int = 1

    @property
    def device(self) -> torch.device:
        return self.dist.device

    def autocast(self):
        return torch.autocast(
            self.device.type,
            dtype=self.amp_dtype or torch.float32,
            enabled=self.amp_dtype is not None,
        )
