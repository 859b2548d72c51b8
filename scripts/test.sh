#!/usr/bin/env bash
# The test suite: set up (idempotent), then lint, check the formatting and run pytest. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check --quiet src tests benchmarks
.venv/bin/python -m pytest "$@"
