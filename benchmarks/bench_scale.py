"""Scale tier of `make bench` (``make bench SCALE=10m``; not in CI): a 10-million-shipment book against the
sample book, measured in the same run.

    python benchmarks/bench_scale.py [--shipments 10000000] [--accounts 200] [--qbr-accounts 6] [--keep DIR]
                                     [--readme]

Without ``KAM_BENCH_SCALE`` in the environment (``make bench SCALE=10m`` sets it; ``SCALE=1m`` gives a
1-million-shipment book) or ``--force`` it only says how to run it. For the big book and, as the baseline, the 12-account sample book:
  sample – ``kam sample`` (generate the CSV exports and build the store): wall seconds and peak memory
  load   – one account's rows read from the store (the book's largest account; median of 3)
  voila  – `kam serve`: the first explorer and QBR page visits after its ready line, the explorer's switches
           (benchmarks/bench_voila.py's measures; skipped without Chromium)
  batch  – ``kam qbr`` on ``--qbr-accounts`` accounts (the largest ones; the whole pack, 2 workers): seconds
           per account after each worker's first, and the peak memory of any process of the batch (sampled)
and prints them with the ratio big / sample. ``--readme`` writes the table into README.md between
``<!-- scale -->`` and ``<!-- /scale -->``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KAM = [sys.executable, "-m", "kam_helpers.cli"]


@dataclass
class Book:
    """One book's figures."""

    label: str
    shipments: int = 0
    sample_seconds: float = 0.0
    sample_cpu_seconds: float = 0.0  # user + system, of the process and its children
    sample_peak_gb: float = 0.0
    load_seconds: float = 0.0
    load_rows: int = 0
    batch_per_account: float = 0.0
    batch_first: float = 0.0
    batch_peak_gb: float = 0.0
    explorer_first: float = float("nan")  # Voilà: first visits after `kam serve` is ready, to the last chart
    qbr_first: float = float("nan")
    switch: float = float("nan")  # explorer: median seconds from a switch to the complete page (8 s apart)


def _rss_by_process() -> dict[int, tuple[int, int]]:
    """Every process of this machine → (parent pid, resident memory in bytes), from /proc (Linux)."""
    page = os.sysconf("SC_PAGE_SIZE")
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        out[int(stat.parent.name)] = (int(fields[1]), int(fields[21]) * page)
    return out


def run_measured(argv: list[str]) -> tuple[float, float, float]:
    """Run a command → (wall seconds, peak resident memory in GB of the largest process of its tree, CPU seconds),
    sampling every 0.2 s the command and all its descendants (a batch's forkserver, workers and kernels); CPU
    seconds are user + system of the command and the descendants it waited for."""
    start = time.perf_counter()
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        table = _rss_by_process()
        tree, grew = {proc.pid}, True
        while grew:
            found = {pid for pid, (parent, _) in table.items() if parent in tree} - tree
            tree |= found
            grew = bool(found)
        peak = max([peak] + [table[pid][1] for pid in tree if pid in table])
        time.sleep(0.2)
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv)} failed with exit code {proc.returncode}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime
    return time.perf_counter() - start, peak / 1024**3, cpu


def largest_accounts(workspace: Path, n: int) -> list[str]:
    """The ``n`` accounts with the most shipments in the store's last complete quarter."""
    from kam_helpers.data.store import Workspace

    with Workspace.open(workspace) as ws:
        quarter = str(ws.last_complete_quarter())
        rows = ws.query(
            f"SELECT account_id, sum(shipments) AS n FROM {ws.activity} WHERE quarter = ? GROUP BY ALL "
            "ORDER BY n DESC, account_id LIMIT ?",
            [quarter, n],
        )
    return list(rows["account_id"])


def load_seconds(workspace: Path, account_id: str) -> tuple[float, int]:
    """Median of 3 reads of one account's rows (after one read that warms the file cache) → (seconds, rows)."""
    code = f"""
import statistics, time
from kam_helpers.data.store import Workspace
with Workspace.open({str(workspace)!r}) as ws:
    q = ws.last_complete_quarter()
    ws.account_data({account_id!r}, q)
    times = []
    for _ in range(3):
        t = time.perf_counter(); data = ws.account_data({account_id!r}, q); times.append(time.perf_counter() - t)
print(statistics.median(times), len(data.shipments) + len(data.invoice_lines))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    seconds, rows = out.stdout.split()[-2:]
    return float(seconds), int(rows)


def measure(book: Book, folder: Path, sample_args: list[str], qbr_accounts: int) -> None:
    """Build ``book`` in ``folder`` and fill its figures."""
    exports, workspace, reports = folder / "sample", folder / "workspace", folder / "reports"
    book.sample_seconds, book.sample_peak_gb, book.sample_cpu_seconds = run_measured(
        [*KAM, "sample", *sample_args, "--out", str(exports), "--workspace", str(workspace)]
    )
    from kam_helpers.data.store import Workspace

    with Workspace.open(workspace) as ws:
        book.shipments = int(ws.query("SELECT count(*) AS n FROM shipments")["n"].item())
    ids = largest_accounts(workspace, qbr_accounts)
    book.load_seconds, book.load_rows = load_seconds(workspace, ids[0])
    _, book.batch_peak_gb, _ = run_measured(
        [*KAM, "qbr", "--accounts", ",".join(ids), "--workspace", str(workspace), "--out", str(reports), "--quiet"]
    )
    seconds = sorted(a["seconds"] for a in json.loads((reports / "manifest.json").read_text())["accounts"])
    # each of the 2 workers' first account carries its warm-up: the rest are the steady state
    book.batch_first = statistics.median(seconds[-2:])
    book.batch_per_account = statistics.median(seconds[:-2] or seconds)
    voila_figures(book, workspace, folder)


def voila_figures(book: Book, workspace: Path, folder: Path) -> None:
    """`kam serve` on ``workspace``: the first explorer and QBR page visits after its ready line, and the
    explorer's switches read 8 s apart (bench_voila's own measures) → ``book``'s Voilà figures; none without
    Chromium."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_voila

    if not bench_voila.chromium_available():
        return
    from playwright.sync_api import sync_playwright

    from kam_helpers.data.store import Workspace

    with Workspace.open(workspace) as ws:
        names = dict(zip(ws.accounts()["account_id"], ws.accounts()["name"], strict=True))
    with sync_playwright() as p:
        browser = bench_voila.launch(p)
        try:
            first = bench_voila.first_visits_after_ready(browser, workspace, folder, starts=1)
            server = bench_voila.Server(workspace, folder / "switch.log").start()
            try:
                server.wait_for_pools()
                switches = bench_voila.switch_times(browser, server, names, look=8.0)
            finally:
                server.stop()
        finally:
            browser.close()
    book.explorer_first, book.qbr_first = first["explorer"][0], first["QBR"][0]
    book.switch = statistics.median(t[1] for t in switches)


def table(big: Book, base: Book) -> str:
    """The figures as a Markdown table with the ratio big / sample."""

    def row(label: str, a: float, b: float, unit: str) -> str:
        def shown(x: float) -> str:
            return "–" if x != x else f"{x:,.2f} {unit}"  # NaN: not measured (no Chromium)

        ratio = f"{a / b:.1f}x" if b and a == a and b == b else ""
        return f"| {label} | {shown(b)} | {shown(a)} | {ratio} |"

    return "\n".join(
        [
            f"| | {base.label} ({base.shipments:,} shipments) | {big.label} ({big.shipments:,} shipments) | ratio |",
            "|---|---|---|---|",
            row("`kam sample` (generate + build the store)", big.sample_seconds, base.sample_seconds, "s"),
            row("`kam sample` CPU time (user + system, 2 cores)", big.sample_cpu_seconds, base.sample_cpu_seconds, "s"),
            row("`kam sample` peak memory", big.sample_peak_gb, base.sample_peak_gb, "GB"),
            row(f"one account read from the store ({big.load_rows:,} rows)", big.load_seconds, base.load_seconds, "s"),
            row(
                "`kam qbr`, seconds per account (warm worker, whole pack)",
                big.batch_per_account,
                base.batch_per_account,
                "s",
            ),
            row("`kam qbr`, a worker's first account", big.batch_first, base.batch_first, "s"),
            row("`kam qbr` peak memory of a process", big.batch_peak_gb, base.batch_peak_gb, "GB"),
            row(
                "Voilà: explorer, first visit after `kam serve` is ready", big.explorer_first, base.explorer_first, "s"
            ),
            row("Voilà: QBR page, first visit after ready", big.qbr_first, base.qbr_first, "s"),
            row("Voilà: explorer switch → complete page (median)", big.switch, base.switch, "s"),
        ]  # fmt: skip
    )


def write_readme(text: str) -> None:
    """Replace README.md's block between <!-- scale --> and <!-- /scale --> with ``text``."""
    readme = ROOT / "README.md"
    old = readme.read_text()
    block = f"<!-- scale -->\n{text}\n<!-- /scale -->"
    new, n = re.subn(r"<!-- scale -->.*?<!-- /scale -->", lambda _: block, old, flags=re.S)
    if n != 1:
        raise SystemExit("README.md has no <!-- scale --> … <!-- /scale --> block to replace")
    readme.write_text(new)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shipments", type=int, default=0, help="default: from SCALE (10m: 10,000,000)")
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--qbr-accounts", type=int, default=6)
    parser.add_argument("--keep", default="", help="build the books in this folder and keep them")
    parser.add_argument("--readme", action="store_true", help="write the table into README.md")
    parser.add_argument("--force", action="store_true", help="run without KAM_BENCH_SCALE=10m")
    args, _ = parser.parse_known_args()
    scale = re.fullmatch(r"(\d+)m", os.environ.get("KAM_BENCH_SCALE", "").strip().lower())
    if not (scale or args.force):
        print("scale tier skipped: `make bench SCALE=10m` runs it (about 15 minutes, 6 GB of memory)")
        return 0
    args.shipments = args.shipments or (int(scale.group(1)) * 1_000_000 if scale else 10_000_000)
    with tempfile.TemporaryDirectory(prefix="kam-scale-") as tmp:
        root = Path(args.keep or tmp)
        base, big = Book("sample book"), Book(f"{args.shipments / 1e6:g}M book")
        measure(base, root / "base", [], args.qbr_accounts)
        big_args = ["--accounts", str(args.accounts), "--shipments", str(args.shipments)]
        measure(big, root / "big", big_args, args.qbr_accounts)
    text = (
        f"Measured here on {dt.date.today():%Y-%m-%d} (`make bench SCALE={args.shipments // 1_000_000}m`; "
        f"{os.cpu_count()} cores, "
        f"{args.qbr_accounts} largest accounts of each book):\n\n{table(big, base)}"
    )
    print(text)
    if args.readme:
        write_readme(text)
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"({time.perf_counter() - started:.0f} s)")
    sys.exit(code)
