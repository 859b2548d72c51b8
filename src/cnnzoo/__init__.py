"""cnnzoo: the classic convolutional networks, exact to their papers."""

from cnnzoo.models.base import ModelSpec, ZooModel
from cnnzoo.registry import REGISTRY, create_model, get_model_spec, list_models, load_weights

__version__ = "0.1.0"

__all__ = [
    "REGISTRY",
    "ModelSpec",
    "ZooModel",
    "__version__",
    "create_model",
    "get_model_spec",
    "list_models",
    "load_weights",
]
