"""Figures: the confusion matrix of an evaluation (matplotlib, drawn off-screen)."""

from cnnzoo.viz.confusion import plot_confusion_matrix

__all__ = ["plot_confusion_matrix"]
