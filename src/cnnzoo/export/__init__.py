"""Export of the zoo's models: ONNX (PyTorch's dynamo exporter, run by ONNX Runtime) and
ExecuTorch (lowered to XNNPACK), fp32 or static int8 calibrated on real training images.

- :mod:`cnnzoo.export.onnx`: ``export_onnx``, ``quantize_onnx_int8``, ``onnx_runner``.
- :mod:`cnnzoo.export.executorch`: ``export_executorch``, ``executorch_runner``.
- :mod:`cnnzoo.export.calibration`: ``calibration_batches`` (training split only).
- :mod:`cnnzoo.export.command`: ``cnnzoo export``'s core (``ExportConfig``, ``export_model``).
- :mod:`cnnzoo.export.errors`: ``MissingDependency``, ``require``, ``UnsupportedModel``.

The optional packages are imported only when used, so importing this package needs none.
"""

from cnnzoo.export.errors import MissingDependency, UnsupportedModel, require

__all__ = ["MissingDependency", "UnsupportedModel", "require"]
