"""``python -m cnnzoo``: the ``cnnzoo`` command line (also ``torchrun ... -m cnnzoo train``)."""

from cnnzoo.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
