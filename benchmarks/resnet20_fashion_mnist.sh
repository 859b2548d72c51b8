#!/usr/bin/env bash
# ResNet-20 (He et al. 2016, Sec. 4.2; 1 input channel) on Fashion-MNIST with its default recipe;
# the report says whether its final test top-1 is at least 94.0%. A long run: 40 epochs in bf16
# autocast with channels_last, as the recipe says (~1,080 training images/s on 2 quiet
# AVX-512-bf16 cores, against ~650 in fp32), about a minute each, so about 40 minutes. In the
# background:
#
#   nohup bash benchmarks/resnet20_fashion_mnist.sh > resnet20_fashion_mnist.log 2>&1 &
#
# The run folder is runs/benchmark/resnet20-fashion-mnist-seed0; if the run is interrupted,
# `RESUME=1 bash benchmarks/resnet20_fashion_mnist.sh` continues it from its last.pt. When done it
# writes benchmarks/results/train_resnet20_fashion-mnist.md and .json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
resume=()
if [ "${RESUME:-0}" = 1 ]; then resume=(--resume); fi
exec .venv/bin/python benchmarks/train_accuracy.py resnet20 fashion-mnist --target 0.94 \
    --keep runs/benchmark "${resume[@]}" "$@"
