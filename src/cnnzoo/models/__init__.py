"""The model zoo: one module per architecture family, each ending with its ``MODELS`` table."""

from cnnzoo.models import (
    airbench,
    alexnet,
    googlenet,
    inception,
    lenet,
    mobilenet,
    nasnet,
    resnet,
    shufflenet,
    vgg,
)

FAMILIES = (
    lenet,
    alexnet,
    vgg,
    googlenet,
    resnet,
    inception,
    nasnet,
    mobilenet,
    shufflenet,
    airbench,
)

__all__ = ["FAMILIES"]
