#!/usr/bin/env bash
# The main job: set up (idempotent), then train LeNet-5 on Fashion-MNIST with its default recipe
# and print the final test accuracy. Extra arguments go to `cnnzoo train`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
.venv/bin/cnnzoo train lenet5 --dataset fashion-mnist "$@"
