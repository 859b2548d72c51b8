#!/usr/bin/env bash
# Idempotent set-up, sourced by scripts/main.sh and scripts/test.sh:
# installs the Fashion-MNIST files (Debian's dataset-fashion-mnist), PostgreSQL's server and
# Chromium (for the tests), Graphviz (the diagrams) and Node.js with npm (the live pages' runtime)
# if they are missing, installs onnxruntime-web with npm into web/node_modules, creates
# .venv with Python 3.11 and installs cnnzoo (editable) with its test tools. A second run reuses
# .venv and reinstalls only when pyproject.toml changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

fashion="/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
if [ ! -f "$fashion" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "cnnzoo setup: installing Debian's dataset-fashion-mnist" >&2
        apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null; }
    else
        echo "cnnzoo setup: Fashion-MNIST is missing; run 'apt-get install dataset-fashion-mnist' as root" >&2
    fi
fi

# PostgreSQL's server (Debian's postgresql) for the two-worker NAS storage test. Debian keeps initdb,
# pg_ctl and postgres in /usr/lib/postgresql/<version>/bin, off PATH; tests/nas/pgserver.py looks on
# PATH and there, and so does this check.
have_postgres_server() {
    local bin
    for bin in /usr/lib/postgresql/*/bin; do
        if [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && [ -x "$bin/postgres" ]; then return 0; fi
    done
    command -v initdb >/dev/null && command -v pg_ctl >/dev/null && command -v postgres >/dev/null
}
if ! have_postgres_server; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "cnnzoo setup: installing Debian's postgresql" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 \
                && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
    else
        echo "cnnzoo setup: PostgreSQL's server is missing; run 'apt-get install postgresql' as root" >&2
    fi
fi
unset -f have_postgres_server

# Debian's chromium and chromium-driver for the report's browser test (cnnzoo report --check):
# selenium drives the browser through the driver; both come from the same Debian release.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "cnnzoo setup: installing Debian's chromium and chromium-driver" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 \
                && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
    else
        echo "cnnzoo setup: Chromium is missing; run 'apt-get install chromium chromium-driver' as root" >&2
    fi
fi

# Debian's graphviz for the cell and network diagrams: cnnzoo.viz.graph runs its `dot` program.
if ! command -v dot >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "cnnzoo setup: installing Debian's graphviz" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 \
                && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; }
    else
        echo "cnnzoo setup: Graphviz's dot is missing; run 'apt-get install graphviz' as root" >&2
    fi
fi

# Node.js and npm (Debian's nodejs, npm) when missing, then the npm package onnxruntime-web at the
# version web/package-lock.json pins, into web/node_modules: the runtime the report's live pages
# carry (cnnzoo report --live). Reinstalled only when the lock file changed.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "cnnzoo setup: installing Debian's nodejs and npm" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 \
                && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
    else
        echo "cnnzoo setup: Node.js is missing; run 'apt-get install nodejs npm' as root" >&2
    fi
fi
web_stamp="web/node_modules/.cnnzoo-installed"
web_want="$(sha256sum web/package-lock.json | cut -d' ' -f1)"
if command -v npm >/dev/null && { [ ! -f "$web_stamp" ] || [ "$(cat "$web_stamp")" != "$web_want" ]; }; then
    echo "cnnzoo setup: installing onnxruntime-web into web/node_modules (npm ci)" >&2
    if npm ci --prefix web --no-audit --no-fund --ignore-scripts --loglevel=error >&2; then
        echo "$web_want" > "$web_stamp"
    else
        echo "cnnzoo setup: npm ci failed; cnnzoo report --live needs onnxruntime-web in web/node_modules" >&2
    fi
fi

python_bin="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
    echo "cnnzoo setup: creating .venv with $("$python_bin" --version)" >&2
    "$python_bin" -m venv .venv
fi

stamp=".venv/.cnnzoo-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "cnnzoo setup: installing cnnzoo and its dependencies into .venv" >&2
    .venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' >&2 || true
    .venv/bin/python -m pip install --quiet -e ".[dev]" 2>&1 | grep -v '^WARNING: Location' >&2 || true
    .venv/bin/python -c "import cnnzoo, torch, torchvision" # fail here, clearly, if the install did not work
    echo "$want" > "$stamp"
fi
