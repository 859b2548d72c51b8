"""Two sites shared by the report tests: the whole zoo without optional inputs (timed), and a
LeNet-5-only site given one real input of each kind, each made by its own tool: a training run on
the real Fashion-MNIST, a bench record, a t-SNE folder and a tiny architecture search."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnzoo.report.site import ReportConfig, build_report
from fakedata import write_fake_mnist


@pytest.fixture(scope="session")
def zoo_site(tmp_path_factory) -> dict:
    """``cnnzoo report`` of the whole zoo, no inputs."""
    out = tmp_path_factory.mktemp("site")
    return build_report(ReportConfig(out=str(out)))


@pytest.fixture(scope="session")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """One folder or file of each optional input, made by the tools themselves."""
    from cnnzoo.cli import main
    from cnnzoo.nas.proxy import Proxy
    from cnnzoo.nas.search import SearchConfig, search
    from cnnzoo.progress import silent
    from cnnzoo.train.config import TrainConfig
    from cnnzoo.train.engine import run

    root = tmp_path_factory.mktemp("inputs")
    run(
        TrainConfig("lenet5", dataset="fashion-mnist", epochs=2, subset=3000, out=str(root / "run"))
    )
    assert (
        main(
            [
                "bench",
                "lenet5",
                "--runtime",
                "eager,fold",
                "--rounds",
                "5",
                "--warmup",
                "3",
                "--format",
                "json",
                "--out",
                str(root / "bench.json"),
            ]
        )
        == 0
    )
    assert (
        main(["embed", str(root / "run" / "best.pt"), "--n", "400", "--out", str(root / "embed")])
        == 0
    )
    mnist = write_fake_mnist(root / "mnist", 400, 50)
    search(
        SearchConfig(
            dataset="mnist",
            data_dir=str(mnist),
            out=str(root / "nas"),
            budget_candidates=2,
            proxy=Proxy(num_cells=1, filters=4, epochs=1, train_images=192, val_images=96),
        ),
        silent,
    )
    return {
        "runs": root / "run",
        "bench": root / "bench.json",
        "embed": root / "embed",
        "nas": root / "nas",
    }


@pytest.fixture(scope="session")
def inputs_site(tmp_path_factory, inputs) -> dict:
    """A LeNet-5-only site with every kind of input."""
    out = tmp_path_factory.mktemp("inputs-site")
    config = ReportConfig(
        out=str(out), models=("lenet5",), **{kind: (str(path),) for kind, path in inputs.items()}
    )
    return build_report(config)
