#!/usr/bin/env bash
# The main job: set up (idempotent), then show the zoo.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
.venv/bin/cnnzoo list "$@"
