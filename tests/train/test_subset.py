"""``--subset N`` trains on the first N training images and tests on the whole test split, and the
run says how many test images its accuracy is on."""

from __future__ import annotations

import io

from cnnzoo.train import TrainConfig, run


def test_subset_cuts_the_training_images_only(fake_mnist, tmp_path):
    printed = io.StringIO()
    result = run(
        TrainConfig(
            "lenet5",
            dataset="mnist",
            data_dir=str(fake_mnist),
            epochs=1,
            batch_size=32,
            subset=64,
            out=str(tmp_path / "run"),
            checkpoint_every=0,
        ),
        stream=printed,
    )
    text = printed.getvalue()
    assert "(64 train / 256 test images" in text  # the fake digits' 256, not 64
    assert result["test_images"] == 256
    assert f"final test top-1 {result['test_top1']:.2%} on the 256 test images" in text
    assert round(result["test_top1"] * 256, 6).is_integer()  # a count of the 256
