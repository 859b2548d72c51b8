"""The errors of :mod:`cnnzoo.export`: a missing optional package and a model an exporter cannot
handle, both ``ValueError`` so that ``cnnzoo export`` prints them as one line."""

from __future__ import annotations

import contextlib
import importlib
import logging
import re
from collections.abc import Iterator
from types import ModuleType

from cnnzoo.interrupt import stop_in_chain

# How torch.export, torch.onnx and ExecuTorch name an operator in their errors, most specific
# first: "<OpOverload(op='aten.foo', overload='default')>", "torch.ops.aten.foo.default",
# "'ns::foo'", "aten.foo.default".
OP_PATTERNS = (
    re.compile(r"OpOverload\(op='([\w.]+)', overload='(\w+)'\)"),
    re.compile(r"torch\.ops\.(\w+\.\w+(?:\.\w+)?)"),
    re.compile(r"'(\w+)::(\w+)'"),
    re.compile(r"\b((?:aten|prims)\.\w+(?:\.\w+)?)"),
)


# Loggers that packages imported here warn on at import time about their own use of torch
# (torchao registers Enum constants with pytree): not the user's business, silenced while importing.
IMPORT_NOISE = ("torch.utils._pytree",)


@contextlib.contextmanager
def quiet_import_logs(names: tuple[str, ...] = IMPORT_NOISE) -> Iterator[None]:
    """Raise the given loggers to ERROR for the duration of the block, then restore them."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class MissingDependency(ValueError):
    """An optional package is not installed; the message says how to install it."""


class UnsupportedModel(ValueError):
    """An exporter cannot handle a model; the message names the model and the operation."""


def require(module: str, extra: str = "export") -> ModuleType:
    """Import ``module``, or explain in one line how to install it.

    Args:
        module: a dotted module name, e.g. ``"onnxruntime"`` or ``"executorch.runtime"``.
        extra: the cnnzoo extra that installs it.

    Returns:
        The imported module.

    Raises:
        MissingDependency: the package (the first component of ``module``) is not installed.
    """
    try:
        with quiet_import_logs():
            return importlib.import_module(module)
    except ImportError as err:
        package = (getattr(err, "name", None) or module).split(".")[0]
        raise MissingDependency(
            f"cnnzoo export needs the {package!r} package: pip install 'cnnzoo[{extra}]'"
        ) from None


def operator_name(message: str) -> str | None:
    """The operator an exporter's error message names, as ``namespace.op[.overload]``.

    Args:
        message: the error text (with its causes).

    Returns:
        E.g. ``"aten.adaptive_max_pool2d.default"``, or ``None`` if none is named.
    """
    for pattern in OP_PATTERNS:
        match = pattern.search(message)
        if match:
            return ".".join(match.groups())
    return None


def error_text(err: BaseException) -> str:
    """The messages of ``err`` and of its causes, joined (exporters wrap the real error)."""
    texts, seen = [], set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        texts.append(str(err))
        err = err.__cause__ or err.__context__
    return "\n".join(texts)


def unsupported(model_name: str, exporter: str, err: BaseException) -> UnsupportedModel:
    """A one-line :class:`UnsupportedModel` for an exporter's exception.

    Args:
        model_name: the model's name.
        exporter: what failed, e.g. ``"torch.onnx (dynamo)"``.
        err: the exporter's exception.

    Returns:
        The error to raise (from ``None``).

    Raises:
        Interrupted: ``err`` only wraps a stop signal (Ctrl-C during the export is a stop, not
            an operation the exporter cannot handle).
    """
    stop = stop_in_chain(err)
    if stop is not None:
        raise stop
    text = error_text(err)
    op = operator_name(text)
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    first = lines[0] if lines else type(err).__name__
    what = f"operation {op}" if op else f"{type(err).__name__}: {first[:200]}"
    return UnsupportedModel(f"{exporter} cannot export {model_name}: unsupported {what}")
