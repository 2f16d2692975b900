"""Where one account's report spends its time: the phases of a QBR, timed, and optionally profiled.

    python benchmarks/profile_account.py ACCOUNT_ID [--workspace DIR] [--quarter 2026Q3] [--profile OUT.prof]

Builds the report the way a warm batch worker does (imports and a first account done before timing), then
times each phase in wall and CPU seconds: reading the account from the store, preparing it, the scorecards
and analyses (QbrReport.load as a whole), the charts (SVG, then the PNG the deck and the PDF share), and each
file of the pack, and the report's total (QbrReport.load onwards). ``--profile`` writes a cProfile of the same phases (CPU clock) for ``python -m pstats`` or snakeviz, and prints its top entries.
Not a benchmark with a baseline: the tool to find what to move next (see benchmarks/bench_scale.py).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(label: str, work: Callable[[], object], rows: list[tuple[str, float, float]]) -> object:
    """Run ``work``; append (label, wall seconds, CPU seconds of this process) to ``rows``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    rows.append((label, time.perf_counter() - wall, time.process_time() - cpu))
    return result


def phases(account_id: str, quarter: str, workspace: str, out: Path) -> list[tuple[str, float, float]]:
    """One account's report, phase by phase → [(phase, wall s, CPU s)]."""
    from kam_helpers import metrics
    from kam_helpers.data.store import Workspace
    from kam_helpers.exports.pack import write_pack
    from kam_helpers.qbr.outline import PARTS
    from kam_helpers.qbr.report import QbrReport

    rows: list[tuple[str, float, float]] = []
    with Workspace.open(workspace) as ws:
        data = timed("read the account (store → frames)", lambda: ws.account_data(account_id, quarter), rows)
    timed("prepare (rating, events, flags)", lambda: metrics.prepare(data), rows)  # type: ignore[arg-type]
    report = timed("QbrReport.load (read, prepare, scorecards, analyses)",
                   lambda: QbrReport.load(account_id, quarter, workspace), rows)  # fmt: skip
    assert isinstance(report, QbrReport)
    with contextlib.redirect_stdout(io.StringIO()):  # outside a notebook the charts' display prints their repr
        timed("charts (Vega-Lite → SVG)", lambda: [report.charts(part.key) for part in PARTS], rows)
    # the PNG that the deck and the PDF share, timed apart from either file
    timed(
        "charts (SVG → PNG for deck and PDF)", lambda: [report.chart_png(c.name) for p in PARTS for c in p.charts], rows
    )
    for fmt in ("pptx", "xlsx", "pdf"):
        timed(f"pack: {fmt}", lambda fmt=fmt: write_pack(report, str(out), fmt, ""), rows)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("account_id")
    parser.add_argument("--workspace", default=str(ROOT / "data" / "workspace"))
    parser.add_argument("--quarter", default="", help="default: the last complete quarter of the data")
    parser.add_argument("--profile", default="", help="write a cProfile of the phases to this file")
    args = parser.parse_args()
    from kam_helpers.data.store import Workspace

    with Workspace.open(args.workspace) as ws:
        quarter = str(ws.report_quarter(args.quarter or None))
        warm = next(a for a in ws.account_ids() if a != args.account_id)
    with tempfile.TemporaryDirectory() as tmp:
        phases(warm, quarter, args.workspace, Path(tmp))  # imports and first conversions, as a warm worker
        rows = phases(args.account_id, quarter, args.workspace, Path(tmp))
        print(f"{args.account_id} {quarter} ({args.workspace})")
        report = rows[2:]  # QbrReport.load reads and prepares again: the two rows before it are its parts
        rows.append(("the report: load, charts and pack", sum(r[1] for r in report), sum(r[2] for r in report)))
        for label, wall, cpu in rows:
            print(f"  {label:<55} {wall:7.2f} s wall {cpu:7.2f} s CPU")
        if args.profile:
            profile = cProfile.Profile(time.process_time)
            profile.runcall(phases, args.account_id, quarter, args.workspace, Path(tmp))
            profile.dump_stats(args.profile)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(r"kam_helpers", 30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
