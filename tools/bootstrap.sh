#!/usr/bin/env bash
# Install everything oxy needs on a fresh Debian bookworm machine (run as root):
# Debian's libassimp5 (for pyassimp), a virtual environment in .venv, oxy itself in
# editable mode with its compiled Cython kernels, and the extras named in $OXY_EXTRAS
# (default "dev": pytest, hypothesis, texture2ddecoder, selenium). With "dev", also
# Debian's chromium and chromium-driver: the status page tests drive that headless
# browser (no browser download). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
EXTRAS=${OXY_EXTRAS:-dev}

need_apt=()
if ! ldconfig -p 2>/dev/null | grep -q 'libassimp\.so\.5'; then need_apt+=(libassimp5); fi
if ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then need_apt+=(python3-venv); fi
if ! command -v gcc >/dev/null 2>&1; then need_apt+=(gcc python3-dev); fi
if [[ ",${EXTRAS}," == *",dev,"* ]]; then
    if [ ! -x /usr/bin/chromium ]; then need_apt+=(chromium); fi
    if [ ! -x /usr/bin/chromedriver ]; then need_apt+=(chromium-driver); fi
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "bootstrap: installing Debian packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip setuptools wheel cython >/dev/null
.venv/bin/python -m pip install -q --no-build-isolation -e ".[${EXTRAS}]"
# The editable install compiles the kernels; build them in place as well so that a
# plain checkout (and `python -m pytest` from it) always sees fresh binaries.
.venv/bin/python setup.py -q build_ext --inplace >/dev/null
echo "bootstrap: ready ($(.venv/bin/python --version), extras: ${EXTRAS})"
