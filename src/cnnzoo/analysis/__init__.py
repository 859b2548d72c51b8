"""Analysis tools over any ``nn.Module``: the per-layer profiler and its report.

``profile(model_or_name, (C, H, W))`` runs one forward pass on the meta device and returns a
:class:`Report` (parameters, MACs, activation memory and receptive field per layer);
``render_table``, ``to_json`` and ``to_csv`` show it. These tools use ``torch.nn`` and the
registry only, never a model family's module.
"""

from cnnzoo.analysis.ops import OPS, OpRule
from cnnzoo.analysis.profiler import profile
from cnnzoo.analysis.report import (
    SCHEMA_VERSION,
    FieldDim,
    ReceptiveField,
    Report,
    Row,
    Totals,
    collapse,
    from_json,
    render_table,
    to_csv,
    to_json,
)

__all__ = [
    "OPS",
    "SCHEMA_VERSION",
    "FieldDim",
    "OpRule",
    "ReceptiveField",
    "Report",
    "Row",
    "Totals",
    "collapse",
    "from_json",
    "profile",
    "render_table",
    "to_csv",
    "to_json",
]
