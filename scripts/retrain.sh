#!/usr/bin/env bash
# The retraining workflow: validate the corpus, train the config, promote the new version only if
# it wins against the champion by the selection rule (training/selection.py: validation and
# realdev, with noise bands), then ask a running service to reload the champion.
#   STANCE_SERVICE_URL (default http://127.0.0.1:8000) and STANCE_ADMIN_TOKEN select the service.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-experiments/configs/default.yaml}
PY=.venv/bin/python
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

echo "==> validating the corpus"
$PY -m labels validate --strict
echo "==> training $CONFIG"
$PY -m training train "$CONFIG"
echo "==> comparing with the champion"
set +e
$PY -m training promote
status=$?
set -e
if [ "$status" -eq 3 ]; then
  echo "==> the candidate lost to the champion by the selection rule: champion kept, nothing to reload"
  exit 0
elif [ "$status" -ne 0 ]; then
  exit "$status"
fi
URL=${STANCE_SERVICE_URL:-http://127.0.0.1:8000}
if [ -z "${STANCE_ADMIN_TOKEN:-}" ]; then
  echo "==> promoted; STANCE_ADMIN_TOKEN is not set, so no running service was told to reload"
  exit 0
fi
echo "==> asking the service at $URL to reload"
if ! $PY - "$URL" <<'PYEOF'
import os, sys, httpx
url = sys.argv[1]
try:
    r = httpx.post(url + "/admin/reload", headers={"Authorization": "Bearer " + os.environ["STANCE_ADMIN_TOKEN"]}, timeout=120)
except httpx.HTTPError as exc:
    print(f"service not reachable at {url}: {exc}; it will load the new champion when it starts")
    sys.exit(0)
print(r.status_code, r.text)
sys.exit(0 if r.status_code == 200 else 1)
PYEOF
then
  echo "==> reload failed: the service keeps its old model" >&2
  exit 1
fi
