"""Benchmark: the batch on a Dask LocalCluster of 2 workers vs the local process pool, same accounts, one run.

    python benchmarks/bench_cluster.py [--accounts 12] [--workers 2] [--repeat 3] [--formats html]

Builds a sample book of ``--accounts`` accounts in a temporary folder and renders every account's QBR with
``run_batch`` both ways, interleaved ``--repeat`` times (a change of the machine's load hits both):
  pool     – the default: local worker processes forked from the preloaded forkserver, warm kernels
  cluster  – ``scheduler="local"``: a distributed.LocalCluster of single-threaded worker processes, each keeping
             its warm kernel through the worker plugin (kam_helpers/batch/cluster.py)
and prints the medians of the whole batch (workers' start and warm-up included) and of a warm account (each
worker's accounts after its first), with the cluster's ratio to the pool. The aim (issue 14): within 1.2x.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def warm_seconds(results: list) -> list[float]:
    """Batch results → the seconds of each account a worker rendered after its first (its kernel warm)."""
    return [r.seconds for r in results if r.worker and r.worker[1] > 1 and not r.skipped]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each way (medians are printed)")
    parser.add_argument("--formats", default="html", help="formats of the pack (default html)")
    args, _ = parser.parse_known_args()

    from kam_helpers.batch.driver import run_batch
    from kam_helpers.core.quarters import Quarter
    from kam_helpers.data.sources import folder_loader
    from kam_helpers.data.store import Workspace, build_workspace
    from kam_helpers.devtools.sample_book import generate_book

    with tempfile.TemporaryDirectory(prefix="kam-bench-cluster-") as tmp:
        root = Path(tmp)
        quarter = Quarter(2026, 3)
        generate_book(root / "exports", accounts=args.accounts, end_quarter=quarter)
        build_workspace(root / "ws", folder_loader(root / "exports"))
        with Workspace.open(root / "ws") as ws:
            ids = ws.active_accounts(quarter)
        print(f"Book: {len(ids)} accounts active in {quarter}; {args.workers} workers; formats {args.formats}\n")

        total: dict[str, list[float]] = {"pool": [], "cluster": []}
        warm: dict[str, list[float]] = {"pool": [], "cluster": []}
        for r in range(max(1, args.repeat)):
            for way, scheduler in (("pool", None), ("cluster", "local")):
                t0 = time.perf_counter()
                result = run_batch(quarter, ids, workers=args.workers, workspace=root / "ws",
                                   out=root / f"{way}{r}", formats=args.formats, scheduler=scheduler,
                                   progress=False)  # fmt: skip
                total[way].append(time.perf_counter() - t0)
                warm[way] += warm_seconds(result.results)
                assert not result.failed, [f.error for f in result.failed]
                print(f"  run {r + 1} {way:<8} {total[way][-1]:6.1f} s", flush=True)

        def row(label: str, values: dict[str, list[float]]) -> None:
            pool, cluster = statistics.median(values["pool"]), statistics.median(values["cluster"])
            print(f"| {label} | {pool:.2f} | {cluster:.2f} | {cluster / pool:.2f}x |")

        print("\n| median seconds | local pool | LocalCluster | cluster / pool |\n|---|---|---|---|")
        row(f"whole batch, {len(ids)} accounts (start and warm-up included)", total)
        row("a warm account (each worker's after its first)", warm)
        ratio = statistics.median(warm["cluster"]) / statistics.median(warm["pool"])
        print(f"\nAim: a cluster account within 1.2x of a local warm worker's: {'reached' if ratio <= 1.2 else 'not reached'}"
              f" ({ratio:.2f}x).")  # fmt: skip


if __name__ == "__main__":
    main()
