"""Class-evidence maps from captum, the maintained PyTorch attribution library (not written
again here): Grad-CAM (Selvaraju et al. 2017) at a layer, and a gradient method on the input
pixels (integrated gradients, Sundararajan et al. 2017, or plain saliency, Simonyan et al. 2014).

Both explain the network's logits as the model contract computes them
(:class:`cnnzoo.source.Logits`: ``forward_head(forward_features(x))``) for one target class per
image, by default the predicted one.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.source import Logits

IG_STEPS = 16  # integration steps of integrated gradients (captum's Gauss-Legendre rule)


def grad_cam(model: nn.Module, layer: str, images: torch.Tensor, targets: torch.Tensor):
    """Grad-CAM of ``targets`` at ``layer``, upsampled to the input (captum's ``LayerGradCam``
    with ReLU, then ``LayerAttribution.interpolate``, bilinear).

    Args:
        model: the network, in eval mode.
        layer: the module path of the layer (its output is the map weighed).
        images: ``N x C x H x W`` normalised inputs.
        targets: ``N`` class indices.

    Returns:
        ``N x H x W``: the map at the layer's resolution, upsampled; non-negative.
    """
    from captum.attr import LayerAttribution, LayerGradCam

    cam = LayerGradCam(Logits(model), model.get_submodule(layer))
    coarse = cam.attribute(images, target=targets, relu_attributions=True)
    return LayerAttribution.interpolate(coarse, images.shape[-2:], "bilinear")[:, 0].detach()


def integrated_gradients(model: nn.Module, images: torch.Tensor, targets: torch.Tensor):
    """Integrated gradients from a blank baseline (zeros: the dataset's mean image after
    normalisation), summed over channels as absolute values: ``N x H x W``."""
    from captum.attr import IntegratedGradients

    attr = IntegratedGradients(Logits(model)).attribute(
        images, baselines=torch.zeros_like(images), target=targets, n_steps=IG_STEPS
    )
    return attr.detach().abs().sum(1)


def saliency(model: nn.Module, images: torch.Tensor, targets: torch.Tensor):
    """The absolute input gradient of the target logit, the largest over channels: ``N x H x
    W``."""
    from captum.attr import Saliency

    leaf = images.detach().clone().requires_grad_(True)  # captum warns when it must set this
    attr = Saliency(Logits(model)).attribute(leaf, target=targets, abs=True)
    return attr.detach().amax(1)


# --gradient name -> the pixel-attribution method (captum)
GRADIENT_METHODS = {
    "integrated-gradients": integrated_gradients,
    "saliency": saliency,
}


def check_captum() -> None:
    """Raise a one-line ``ValueError`` naming the extra when captum is missing."""
    import importlib.util

    if importlib.util.find_spec("captum") is None:
        raise ValueError("cnnzoo inspect needs the 'captum' package: pip install 'cnnzoo[inspect]'")
