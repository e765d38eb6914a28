#!/usr/bin/env bash
# The installable packages: builds the Python wheel (`pip wheel`) and the
# Node tarball (`npm pack`), installs each into a clean environment whose
# PATH has no Rust toolchain, and runs a loopback echo with it. Called by
# `make test-packages` (part of `make test`) after the bindings were built;
# run from anywhere. Exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$root/build/packaging"
rm -rf "$out"
mkdir -p "$out"

# The clean environments see the system's tools only: no ~/.cargo/bin.
clean_path="/usr/local/bin:/usr/bin:/bin"
if env PATH="$clean_path" sh -c 'command -v cargo || command -v rustc' >/dev/null; then
    echo "error: a Rust toolchain is on $clean_path; the install test would prove nothing" >&2
    exit 1
fi

echo "== Python: pip wheel, then install into a fresh venv without cargo"
python="${PYTHON:-python3}"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$out/wheels" "$root/bindings/python"
wheel="$(ls "$out"/wheels/netcore-*.whl)"
case "$wheel" in
    *-abi3-*) echo "wheel: $(basename "$wheel")" ;;
    *) echo "error: $(basename "$wheel") is not an abi3 wheel" >&2; exit 1 ;;
esac
"$python" -m venv "$out/venv"
env -i HOME="$HOME" PATH="$clean_path" "$out/venv/bin/python" -m pip install --quiet --no-index "$wheel"
(cd "$out" && env -i HOME="$HOME" PATH="$clean_path" "$out/venv/bin/python" "$root/tests/packaging/echo.py")

echo "== Node: npm pack, then npm install the tarball into a fresh project without cargo"
# The addon was compiled by `npm run build` (bindings/node/test.sh); packing
# must not compile it again.
(cd "$root/bindings/node" && npm pack --ignore-scripts --silent --pack-destination "$out" >/dev/null)
tarball="$(ls "$out"/netcore-*.tgz)"
if ! tar -tzf "$tarball" | grep '^package/netcore\..*\.node$'; then
    echo "error: $(basename "$tarball") has no compiled addon" >&2
    exit 1
fi
mkdir -p "$out/project"
printf '{ "name": "netcore-install-test", "version": "1.0.0", "private": true }\n' > "$out/project/package.json"
(cd "$out/project" \
    && env -i HOME="$HOME" PATH="$clean_path" npm install --silent --no-audit --no-fund --offline "$tarball" \
    && cp "$root/tests/packaging/echo.js" . \
    && env -i HOME="$HOME" PATH="$clean_path" node echo.js)
echo "packages: both install and run without a Rust toolchain"
