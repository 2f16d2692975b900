"""Render the sample book's QBRs and print what they say, to show a change left the outputs as they were.

    python tools/outputs_digest.py OUT_DIR > digest.json     # in the checkout before the change
    python tools/outputs_digest.py OUT_DIR2 > digest2.json   # after it
    diff digest.json digest2.json                            # nothing: the outputs are identical

It builds the sample book (fixed seed and end quarter) in OUT_DIR, renders every client's HTML report with
`kam qbr`, and prints, per account, the manifest's KPIs and action items and the report's HTML (without the
notebook's cell ids, which papermill draws at random), as JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

QUARTER = "2026Q3"


def main(out: Path) -> None:
    env = {**os.environ, "KAM_WORKSPACE": str(out / "workspace"), "KAM_REPORTS": str(out / "reports")}
    kam = [sys.executable, "-m", "kam_helpers.cli"]
    run = dict(env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*kam, "sample", "--end-quarter", QUARTER, "--out", str(out / "sample")], **run)
    subprocess.run([*kam, "qbr", "--quarter", QUARTER, "--formats", "html", "--quiet", "--force"], **run)
    reports = out / "reports" / QUARTER
    manifest = json.loads((reports / "manifest.json").read_text())
    digest = {}
    for entry in sorted(manifest["accounts"], key=lambda e: e["account_id"]):
        page = (reports / entry["account_id"] / "qbr.html").read_text(encoding="utf-8")
        page = re.sub(r'id="cell-id=[0-9a-f-]+"', "", page)  # papermill gives its injected cell a new id each run
        digest[entry["account_id"]] = {
            "kpis": entry.get("kpis"),
            "action_items": entry.get("action_items"),
            "html_sha256": hashlib.sha256(page.encode()).hexdigest(),
            "html_text": re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.split("<body", 1)[-1])).strip(),
        }
    json.dump(digest, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
