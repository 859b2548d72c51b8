"""Using a network: evaluating it on a test split (:mod:`~cnnzoo.evaluate.loop`, also the
engine's per-epoch evaluation) and the ``eval`` and ``predict`` commands
(:mod:`~cnnzoo.evaluate.command`)."""
