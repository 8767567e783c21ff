#!/usr/bin/env bash
# Start Label Studio from its own virtualenv (scripts/setup.sh --label-studio) for the annotation loop:
# bound to 127.0.0.1 only (its default is every interface; --host only names the host in URLs), with its
# error reporting and its version check on PyPI off, its data under LABEL_STUDIO_DATA.
#   LABEL_STUDIO_PORT (default 8080), LABEL_STUDIO_DATA (default var/label-studio).
#   The first start creates the database (about a minute). LABEL_STUDIO_USERNAME and LABEL_STUDIO_PASSWORD,
#   when both are set at the first start, create that user; otherwise sign up on the login page.
# Further arguments go to `label-studio start`.
set -euo pipefail
cd "$(dirname "$0")/.."
ls_bin=var/label-studio-venv/bin/label-studio
if [ ! -x "$ls_bin" ]; then
  echo "Label Studio is not installed: bash scripts/setup.sh --label-studio" >&2
  exit 3
fi
port=${LABEL_STUDIO_PORT:-8080}
data=${LABEL_STUDIO_DATA:-$PWD/var/label-studio}
case "$data" in /*) ;; *) data=$PWD/$data ;; esac  # a relative data folder nests its media paths
mkdir -p "$data"
# Label Studio also reads plain USERNAME, PASSWORD, HOST, PORT and DEBUG when its own names are unset
exec env -u USERNAME -u PASSWORD -u USER_TOKEN -u HOST -u PORT -u DEBUG \
  LABEL_STUDIO_BASE_DATA_DIR="$data" DJANGO_DB=sqlite \
  LABEL_STUDIO_SENTRY_DSN= LABEL_STUDIO_FRONTEND_SENTRY_DSN= LABEL_STUDIO_LATEST_VERSION_CHECK=false \
  "$ls_bin" start --no-browser --internal-host 127.0.0.1 --host 127.0.0.1 --port "$port" --data-dir "$data" "$@"
