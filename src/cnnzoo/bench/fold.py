"""Folding every ``Conv2d -> BatchNorm2d`` pair of a network into the convolution (inference only).

In eval mode a batch normalisation is the affine map ``y = (x - mean) / sqrt(var + eps) * gamma +
beta`` with fixed statistics, so when it reads a convolution's output and nothing else reads that
output, it can be merged into the convolution's weights and bias (Jacob et al. 2018, "Quantization
and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference", Sec. 3.2).

Pairs are found generically: the network (``forward_head(forward_features(x))``) is traced with
``torch.fx``; a module whose tracing fails is split into its children, each traced on its own, so
the pairs inside every traceable part are found. A pair is folded only when the convolution's output
goes to the batch norm alone and each module is called once. Batch norms that cannot be folded
(after a pooling or an activation, as in pre-activation ResNets, or without running statistics)
are left as they are.
"""

from __future__ import annotations

import copy
from collections import Counter

import torch
import torch.fx
from torch import nn

from cnnzoo.source import Logits

PREFIX = "net"  # the attribute of :class:`~cnnzoo.source.Logits` that holds the network


def traced_graphs(module: nn.Module, prefix: str) -> list[tuple[str, torch.fx.Graph]]:
    """``torch.fx`` graphs covering ``module``: its own, or (if it cannot be traced) its children's.

    Args:
        module: the module to trace.
        prefix: its qualified name in the network ("" for the root).

    Returns:
        ``(prefix, graph)`` pairs; module targets in each graph are relative to ``prefix``.
    """
    if not list(module.children()):
        return []
    try:
        return [(prefix, torch.fx.Tracer().trace(module))]
    except Exception:  # any failure to trace means: try the parts
        graphs = []
        for name, child in module.named_children():
            graphs += traced_graphs(child, f"{prefix}.{name}" if prefix else name)
        return graphs


def conv_bn_pairs(net: nn.Module) -> list[tuple[str, str]]:
    """The qualified names of every foldable ``(Conv2d, BatchNorm2d)`` pair of ``net``.

    Args:
        net: the network.

    Returns:
        ``(conv_name, bn_name)`` pairs where the batch norm reads the convolution's output alone,
        both are called once in the traced graphs, and the batch norm has running statistics.
    """
    graphs = traced_graphs(Logits(net), "")
    calls: Counter[str] = Counter()
    candidates = []
    for prefix, graph in graphs:
        for node in graph.nodes:
            if node.op != "call_module":
                continue
            name = f"{prefix}.{node.target}" if prefix else node.target
            calls[name] += 1
            source = node.args[0] if node.args else None
            if not isinstance(source, torch.fx.Node) or source.op != "call_module":
                continue
            source_name = f"{prefix}.{source.target}" if prefix else source.target
            candidates.append((source_name, name, len(source.users)))
    root = Logits(net)
    pairs = []
    for conv_name, bn_name, users in candidates:
        conv, bn = root.get_submodule(conv_name), root.get_submodule(bn_name)
        if (
            isinstance(conv, nn.Conv2d)
            and type(bn) is nn.BatchNorm2d
            and users == 1
            and calls[conv_name] == 1
            and calls[bn_name] == 1
            and bn.running_mean is not None
            and bn.num_features == conv.out_channels
        ):
            pairs.append((conv_name.removeprefix(f"{PREFIX}."), bn_name.removeprefix(f"{PREFIX}.")))
    return pairs


@torch.no_grad()
def fold_into(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Merge the eval-mode batch norm ``bn`` that follows ``conv`` into ``conv``'s weight and bias.

    Args:
        conv: the convolution (changed in place; it gets a bias if it had none).
        bn: the batch normalisation that reads its output.
    """
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    conv.weight.mul_(scale.reshape(-1, 1, 1, 1).to(conv.weight.dtype))
    new_bias = (bias * scale + shift).to(conv.weight.dtype)
    conv.bias = nn.Parameter(new_bias, requires_grad=conv.weight.requires_grad)


def fold_batchnorm_count(model: nn.Module) -> tuple[nn.Module, int, int]:
    """:func:`fold_batchnorm` with the counts of folded and of all ``BatchNorm2d`` modules.

    Returns:
        The folded copy, how many batch norms were folded, and how many there were.
    """
    folded = copy.deepcopy(model).eval()
    total = sum(type(m) is nn.BatchNorm2d for m in folded.modules())
    pairs = conv_bn_pairs(folded)
    for conv_name, bn_name in pairs:
        fold_into(folded.get_submodule(conv_name), folded.get_submodule(bn_name))
        parent_name, _, attr = bn_name.rpartition(".")
        parent = folded.get_submodule(parent_name) if parent_name else folded
        setattr(parent, attr, nn.Identity())
    return folded, len(pairs), total


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every ``Conv2d -> BatchNorm2d`` pair folded.

    Args:
        model: any network (it is not changed).

    Returns:
        The copy; its folded batch norms are ``nn.Identity``; eval-mode outputs equal the
        original's within float rounding (1e-5). ``folded_batchnorms`` on it says how many were
        folded and ``total_batchnorms`` how many there were.
    """
    folded, count, total = fold_batchnorm_count(model)
    folded.folded_batchnorms = count
    folded.total_batchnorms = total
    return folded
