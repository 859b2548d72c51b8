"""The model zoo: one module per architecture family, each ending with its ``MODELS`` table."""

from cnnzoo.models import alexnet, googlenet, lenet, mobilenet, resnet, vgg

FAMILIES = (lenet, alexnet, vgg, googlenet, resnet, mobilenet)

__all__ = ["FAMILIES"]
