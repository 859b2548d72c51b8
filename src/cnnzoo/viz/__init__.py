"""Figures (matplotlib, drawn off-screen): the confusion matrix of an evaluation, and the charts
of ``cnnzoo plot`` (:mod:`cnnzoo.viz.plot`: data in :mod:`~cnnzoo.viz.charts`, drawing in
:mod:`~cnnzoo.viz.draw`)."""

from cnnzoo.viz.confusion import plot_confusion_matrix

__all__ = ["plot_confusion_matrix"]
