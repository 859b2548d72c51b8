"""``cnnzoo bench``: latency and throughput of the zoo's networks under several runtimes (eager,
folded batch norms, torch.compile, ONNX Runtime, ExecuTorch) and precisions (fp32, bf16, int8),
measured in interleaved rounds against fp32 eager in the same process."""

from cnnzoo.bench.core import BenchConfig, bench_models, make_config
from cnnzoo.bench.fold import fold_batchnorm
from cnnzoo.bench.render import render_table, to_csv, to_json

__all__ = [
    "BenchConfig",
    "bench_models",
    "fold_batchnorm",
    "make_config",
    "render_table",
    "to_csv",
    "to_json",
]
