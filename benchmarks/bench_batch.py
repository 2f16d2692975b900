"""Benchmark: the QBR batch vs a plain papermill loop vs the same work in-process (the floor), and issue 13's aims.

    python benchmarks/bench_batch.py [--accounts 12] [--workers 2] [--repeat 3]

Builds a sample book of ``--accounts`` accounts in a temporary folder, then times, over the same accounts:
  floor  – QbrReport built and every display method called in this process, no notebook (imports timed apart)
  plain  – a sequential loop of papermill.execute_notebook, one fresh kernel per account (what users write)
  batch  – kam's batch (warm kernels in worker processes), with HTML export, manifest and index
           (--formats html, the like-for-like comparison)
  kam qbr – the command as a user runs it, in a new process, default formats (HTML, deck, workbook, PDF):
           end to end, interpreter start and warm-up included
  cold   – the same command's work with workers that do not warm up (the in-run baseline of the warm-up)
and prints seconds per account with ratios, then the aims: each worker's first account against its second
(≤ 2x), the whole batch end to end (≤ 20 s on 12 accounts), the batch against the plain loop (≤ 0.2). It also
checks that the batch's notebooks carry exactly the outputs of the plain papermill runs. The batch runs are
repeated (``--repeat``, interleaved with their baselines) and their medians printed: on a shared 2-core machine
one run says little.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def floor_seconds(workspace: Path, ids: list[str], quarter: str) -> tuple[float, float]:
    """(import seconds, seconds for all accounts) of the report work in a fresh interpreter."""
    code = f"""
import time, sys
t0 = time.perf_counter()
import pandas, altair
from kam_helpers.qbr.report import QbrReport
from kam_helpers.qbr import charts
t1 = time.perf_counter()
for account_id in {ids!r}:
    r = QbrReport.load(account_id, {quarter!r}, {str(workspace)!r})
    r.header(); r.kpi_cards(); r.scorecard_table(); r.action_items()
    for s in r.narrative.sections: r.section(s.key)
    for name in ("volume_revenue_trend", "mode_mix", "otd_vs_sla", "worst_lanes", "worst_carriers",
                 "cases_by_category", "quarterly_trend"):
        r.chart(name)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    imports, work = map(float, out.stdout.split()[-2:])
    return imports, work


def plain_loop(workspace: Path, ids: list[str], quarter: str, out: Path) -> float:
    import papermill as pm

    start = time.perf_counter()
    for account_id in ids:
        pm.execute_notebook(
            str(ROOT / "notebooks" / "qbr.ipynb"),
            str(out / f"{account_id}.ipynb"),
            progress_bar=False,
            kernel_name="python3",
            parameters={"account_id": account_id, "quarter": quarter, "workspace": str(workspace)},
        )
    return time.perf_counter() - start


def kam_qbr(workspace: Path, quarter: str, out: Path, workers: int) -> float:
    """Seconds of ``kam qbr`` (default formats) in a new process, as a user runs it: start to exit."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "kam_helpers.cli", "qbr", "--quarter", quarter, "--workspace", str(workspace)]
        + ["--out", str(out), "--workers", str(workers), "--force", "--quiet"],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def first_and_second(manifest: Path) -> list[tuple[float, float]]:
    """Per worker process, (seconds of its first account, of its second) from a batch's manifest."""
    import json

    runs: dict[int, dict[int, float]] = {}
    for entry in json.loads(manifest.read_text())["accounts"]:
        if entry.get("worker"):
            pid, n = entry["worker"]
            runs.setdefault(pid, {})[n] = entry["seconds"]
    return [(r[1], r[2]) for r in runs.values() if 1 in r and 2 in r]


def same_outputs(batch_dir: Path, plain_dir: Path, ids: list[str]) -> list[str]:
    import nbformat

    differ = []
    for account_id in ids:
        a = nbformat.read(batch_dir / account_id / "qbr.ipynb", as_version=4)
        b = nbformat.read(plain_dir / f"{account_id}.ipynb", as_version=4)
        if [(c.get("outputs"), c.get("execution_count")) for c in a.cells] != [
            (c.get("outputs"), c.get("execution_count")) for c in b.cells
        ]:
            differ.append(account_id)
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each batch (medians are printed)")
    args, _ = parser.parse_known_args()

    from kam_helpers.batch.driver import local_executor, run_batch
    from kam_helpers.core.quarters import Quarter
    from kam_helpers.data.sources import folder_loader
    from kam_helpers.data.store import Workspace, build_workspace
    from kam_helpers.devtools.sample_book import generate_book

    with tempfile.TemporaryDirectory(prefix="kam-bench-") as tmp:
        root = Path(tmp)
        quarter = Quarter(2026, 3)
        generate_book(root / "exports", accounts=args.accounts, end_quarter=quarter)
        build_workspace(root / "ws", folder_loader(root / "exports"))
        with Workspace.open(root / "ws") as ws:
            ids = ws.account_ids()
            shipments = ws.query("SELECT count(*) AS n FROM shipments")["n"][0]
        n = len(ids)
        print(f"Book: {n} accounts, {shipments:,} shipments, quarter {quarter}; {args.workers} workers\n")

        imports, work = floor_seconds(root / "ws", ids, str(quarter))
        packs, batches, warm, cold = [], [], [], []
        for r in range(max(1, args.repeat)):  # interleaved, so that a change of the machine's load hits all of them
            packs.append(kam_qbr(root / "ws", str(quarter), root / f"pack{r}", args.workers))
            warm += first_and_second(root / f"pack{r}" / "manifest.json")
            t0 = time.perf_counter()
            result = run_batch(
                quarter,
                ids,
                workers=args.workers,
                workspace=root / "ws",
                out=root / "batch",
                force=True,
                formats="html",
                progress=False,
            )
            batches.append(time.perf_counter() - t0)
            with local_executor(args.workers, warm_up=False) as cold_workers:
                run_batch(
                    quarter,
                    ids,
                    workspace=root / "ws",
                    out=root / f"cold{r}",
                    force=True,
                    executor=cold_workers,
                    progress=False,
                )
            cold += first_and_second(root / f"cold{r}" / "manifest.json")
        pack, batch = statistics.median(packs), statistics.median(batches)
        failed = [r.account_id for r in result.failed]
        (root / "plain").mkdir()
        plain = plain_loop(root / "ws", ids, str(quarter), root / "plain")
        differ = same_outputs(root / "batch", root / "plain", ids)

        floor = work / n
        floor_all = (imports + work) / n
        rows = [
            ("floor: in-process, no notebook", floor),
            ("floor incl. imports once", floor_all),
            (f"kam qbr batch ({args.workers} workers), html", batch / n),
            ("plain papermill loop", plain / n),
            ("kam qbr, whole pack, new process end to end", pack / n),
        ]
        print(f"{'':44} {'s/account':>10} {'x floor':>8} {'x plain':>8}")
        for label, value in rows:
            print(f"{label:44} {value:10.3f} {value / floor:8.2f} {value / (plain / n):8.2f}")
        print(f"\noutputs identical to plain papermill: {'yes' if not differ else 'NO: ' + ', '.join(differ)}")
        if failed:
            print(f"failed accounts: {', '.join(failed)}")

        print("\nAims (issue 13), each with its baseline from this run:")
        for label, pairs in (("warm workers", warm), ("cold workers (baseline)", cold)):
            ratios = ", ".join(f"{a / b:.2f}" for a, b in pairs)
            median = statistics.median(a / b for a, b in pairs)
            print(f"  each worker's first account / its second, {label}: median {median:.2f}x ({ratios})  [aim <= 2x]")
        runs = ", ".join(f"{p:.1f}" for p in packs)
        print(
            f"  kam qbr end to end, {n} accounts, whole pack: median {pack:.1f} s ({runs})  [aim <= 20 s on 12 accounts]"
        )
        print(
            f"  batch vs plain papermill loop, html: {batch / n:.2f} vs {plain / n:.2f} s per account"
            f" = {batch / plain:.2f}  [aim <= 0.2]"
        )


if __name__ == "__main__":
    main()
