"""Dependency audit: pip-audit over the project's virtual environment, known findings excluded.

    .venv/bin/python scripts/audit.py [--json]

Known findings live in scripts/audit-known.txt, one per line: ``<vulnerability id>  <reason>``.
Exit 0: no findings beyond the known ones. Exit 1: new findings (listed). When the vulnerability
service cannot be reached the audit did not happen: it says so loudly and exits 0, unless
AUDIT_STRICT=1 (the registries are the only network this project may use, and a registry outage
must not block every change; RELIABILITY.md records whether the last run audited).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

KNOWN = Path(__file__).with_name("audit-known.txt")


def known_findings() -> dict[str, str]:
    out = {}
    for line in KNOWN.read_text(encoding="utf-8").splitlines() if KNOWN.exists() else []:
        line = line.strip()
        if line and not line.startswith("#"):
            vid, _, reason = line.partition(" ")
            out[vid] = reason.strip()
    return out


def main() -> int:
    known = known_findings()
    cmd = [sys.executable, "-m", "pip_audit", "--progress-spinner", "off", "--skip-editable", "-f", "json",
           "--timeout", "30"]
    for vid in known:
        cmd += ["--ignore-vuln", vid]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        result = {"ran": False, "error": (proc.stderr or proc.stdout).strip()[-400:], "known": known}
    else:
        deps = data.get("dependencies", [])
        findings = [[d["name"], d["version"], v["id"]] for d in deps for v in d.get("vulns", [])]
        result = {"ran": True, "packages": len(deps), "findings": findings, "known": known}
    if "--json" in sys.argv:
        print(json.dumps(result))
    elif not result["ran"]:
        print(f"AUDIT NOT RUN: pip-audit could not complete: {result['error']}", file=sys.stderr)
    elif result["findings"]:
        print("pip-audit: new vulnerability findings (add a reason to scripts/audit-known.txt only after review):")
        for name, ver, vid in result["findings"]:
            print(f"  {name} {ver}: {vid}")
    else:
        print(f"pip-audit: {result['packages']} packages, no findings beyond {len(known)} known")
    if not result["ran"]:
        return 1 if os.environ.get("AUDIT_STRICT") == "1" else 0
    return 1 if result["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
