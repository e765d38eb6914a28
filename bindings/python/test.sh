#!/usr/bin/env bash
# Builds the Python binding into a fresh virtual environment and runs its
# tests: pytest on tests/python and mypy --strict on examples/python and the package.
# With --build-only it stops once the package is installed (for `make demo`).
# Run from anywhere; works from the repository root. Exit status is non-zero
# on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

python="${PYTHON:-python3}"
venv="build/venv-python"

mkdir -p build
if [ ! -x "$venv/bin/python" ]; then
    if ! "$python" -m venv "$venv"; then
        # Debian ships venv/ensurepip separately (python3-venv).
        rm -rf "$venv"
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "python3 -m venv failed: installing python3-venv" >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2 \
                || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2; }
            "$python" -m venv "$venv"
        else
            echo "error: '$python -m venv' failed; install python3-venv" >&2
            exit 1
        fi
    fi
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"
# maturin comes from PyPI through the build backend; the extension is
# compiled locally by cargo.
# uvicorn, h11 and websockets (pinned): netcore.aio runs their servers unchanged.
python -m pip install --quiet ./bindings/python pytest mypy "uvicorn==0.54.0" "h11==0.16.0" "websockets==15.0.1"
if [ "${1:-}" = "--build-only" ]; then
    exit 0
fi

# openssl (the TLS tests' certificates, s_client, s_server), curl and socat
# (clients of the example servers).
bash tests/need-commands.sh openssl curl socat

echo "== pytest tests/python"
python -m pytest -q -o cache_dir=build/.pytest_cache tests/python

echo "== mypy --strict examples/python and the package (its stubs)"
python -m mypy --strict --cache-dir build/.mypy_cache examples/python bindings/python/python/netcore
