"""What a trained network sees (``cnnzoo inspect``): the first layer's filters, the feature maps
after each stage, each channel's top-9 test images cropped to its receptive field (Zeiler and
Fergus 2014, Figure 2), class-evidence maps from captum (Grad-CAM and integrated gradients) and
the predictions, all computed through the model contract and :func:`cnnzoo.source.open_source`.

Every view is computed as data first and drawn afterwards; each module imports only those
above it in this list:

- :mod:`~cnnzoo.inside.layers`, :mod:`~cnnzoo.inside.topk`, :mod:`~cnnzoo.inside.evidence`: the
  layers a network shows, each channel's top images, the class-evidence maps;
- :mod:`~cnnzoo.inside.views`: the data types passed along and the folder's record, its
  ``views.json`` written and read back (the report reads through it) and the evidence arrays;
- :mod:`~cnnzoo.inside.images`: the images shown (seeded test images or files);
- :mod:`~cnnzoo.inside.compute`: the layers planned, the predictions and maps, the evidence;
- :mod:`~cnnzoo.inside.figures` (the figures, no model) and :mod:`~cnnzoo.inside.drawing` (the
  views drawn into the folder's files);
- :mod:`~cnnzoo.inside.command`: the configuration, the command and its summary.
"""
