#!/usr/bin/env bash
# Builds the Node binding from source and runs its tests; called by the
# top-level `make test` (from the repository root) or by hand from anywhere.
#   npm ci (no prebuilt downloads: the addon is compiled here by cargo),
#   npm run build, node --test test/, tsc --noEmit --strict on the typings
#   and examples/node/example.ts. With --build-only it stops after the build
#   (for `make demo`).
# The C interop tests use build/examples (`make examples`); they are skipped
# with a reason when it is missing. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# 1,000 connections in one process need ~2,000 descriptors.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

npm ci --no-audit --no-fund
npm run build
if [ "${1:-}" = "--build-only" ]; then
    exit 0
fi
# openssl (the TLS tests' certificates, s_client, s_server) and curl (a client of https_server.js).
bash ../../tests/need-commands.sh openssl curl
npm test
npx tsc --noEmit --strict -p .
echo "node binding: tests and type check passed"
