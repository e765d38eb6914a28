#!/usr/bin/env bash
# Makes sure the command-line tools a test suite talks to are on PATH:
# openssl, curl and socat, each from the Debian package of the same name.
# Missing ones are installed with apt-get when running as root (as .ci/run
# does); otherwise this fails, naming what to install, so that a suite never
# skips those tests quietly.
# Usage: tests/need-commands.sh COMMAND...
set -euo pipefail

missing=()
for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} (the tests talk to them)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >&2
else
    echo "error: the tests need ${missing[*]}: install them (apt-get install ${missing[*]}), or run this as root to have them installed" >&2
    exit 1
fi
