"""t-SNE maps of what a network learned (``cnnzoo embed``): features through the model contract
(:mod:`~cnnzoo.embed.features`), maps through openTSNE (:mod:`~cnnzoo.embed.tsne`), their quality
(:mod:`~cnnzoo.embed.metrics`), their figures (:mod:`~cnnzoo.embed.figures`) and the command
(:mod:`~cnnzoo.embed.command`)."""
