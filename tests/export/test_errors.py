"""The one-line errors of cnnzoo.export: missing packages and unsupported operations."""

from __future__ import annotations

import pytest

from cnnzoo.export.errors import MissingDependency, operator_name, require, unsupported


def test_require_returns_the_module():
    import json

    assert require("json") is json


def test_require_names_the_package_and_the_extra():
    with pytest.raises(MissingDependency) as info:
        require("no_such_package_xyz.sub")
    message = str(info.value)
    assert "'no_such_package_xyz' package" in message
    assert "pip install 'cnnzoo[export]'" in message
    assert isinstance(info.value, ValueError) and "\n" not in message


@pytest.mark.parametrize(
    ("message", "op"),
    [
        (
            "No ONNX function found for <OpOverload(op='aten.foo', overload='default')>.",
            "aten.foo.default",
        ),
        (
            "call_function[target=torch.ops.aten.adaptive_max_pool2d.default](args",
            "aten.adaptive_max_pool2d.default",
        ),
        ("Missing out variants: {'cnnzoo_test::mystery'}", "cnnzoo_test.mystery"),
        ("something about aten.unique2.default here", "aten.unique2.default"),
        ("no operator here", None),
    ],
)
def test_operator_name(message, op):
    assert operator_name(message) == op


def test_unsupported_reads_the_cause():
    try:
        try:
            raise RuntimeError("target=torch.ops.aten.bad_op.default failed")
        except RuntimeError as inner:
            raise ValueError("Failed to convert\nmore lines") from inner
    except ValueError as err:
        error = unsupported("mynet", "torch.onnx (dynamo)", err)
    assert (
        str(error)
        == "torch.onnx (dynamo) cannot export mynet: unsupported operation aten.bad_op.default"
    )
