"""Voilà apps in a real browser (`make bench`): seconds from a request to the last chart drawn, cold and with
preheated kernels, and from changing the account to the chart redrawn; memory over many visits.

Baselines are measured in the same run: a `kam serve --pool-size 0` (every visit starts a kernel) against
the default preheated pools. Needs Chromium (Debian's /usr/bin/chromium); prints a note and exits 0 without.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_browser import CHART, Server, build_sample_workspace, chromium_available, launch  # noqa: E402

QBR = ("/voila/render/qbr.ipynb?account_id=ACC-002&quarter=2026Q3", 7)
EXPLORER = ("/voila/render/account_explorer.ipynb", 4)


def visit(browser, server: Server, path: str, charts: int) -> float:
    """Seconds from the request to the last of ``charts`` charts drawn."""
    page = browser.new_page()
    start = time.perf_counter()
    page.goto(server.link(path), wait_until="commit")
    page.wait_for_function(f"() => document.querySelectorAll({CHART!r}).length >= {charts}", timeout=120_000)
    seconds = time.perf_counter() - start
    leave(page)
    return seconds


def leave(page) -> None:
    """Navigate away (the page asks the server to shut its kernel down, as a closed tab does), then close."""
    page.goto("about:blank")
    page.wait_for_timeout(200)
    page.close()


def switch_times(browser, server: Server, accounts: list[tuple[str, str]]) -> list[float]:
    page = browser.new_page()
    page.goto(server.link(EXPLORER[0]))
    page.wait_for_function(f"() => document.querySelectorAll({CHART!r}).length >= 4", timeout=120_000)
    out = []
    for label, name in accounts:
        start = time.perf_counter()
        page.locator(".kam-x-controls select").first.select_option(label=label)
        page.wait_for_function(
            "n => { const e = document.querySelector('.kam-chart-volume_revenue_trend .vega-embed');"
            " return e && e.querySelector('svg') && e.textContent.includes(n); }",
            arg=name,
            timeout=60_000,
        )
        out.append(time.perf_counter() - start)
    leave(page)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--visits", type=int, default=50, help="visits for the memory check (default 50)")
    parser.add_argument("--repeat", type=int, default=3, help="visits per timing (median; default 3)")
    args, _ = parser.parse_known_args(argv)
    if not chromium_available():
        print("bench_voila: no Chromium, skipped")
        return 0
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        workspace = build_sample_workspace(root)
        from kam_helpers.data.store import Workspace

        with Workspace.open(workspace) as ws:
            names = dict(zip(ws.accounts()["account_id"], ws.accounts()["name"], strict=False))
        accounts = [(f"{names[a]} ({a})", names[a]) for a in ("ACC-002", "ACC-003", "ACC-004", "ACC-005", "ACC-001")]
        rows: list[tuple[str, float]] = []
        with sync_playwright() as p:
            browser = launch(p)
            cold = Server(workspace, root / "cold.log", extra=["--pool-size", "0"]).start()
            try:
                for label, (path, n) in (("QBR", QBR), ("explorer", EXPLORER)):
                    visit(browser, cold, path, n)  # first visit also warms the OS file cache
                    rows.append(
                        (
                            f"{label}: cold (no preheated kernel)",
                            statistics.median(visit(browser, cold, path, n) for _ in range(args.repeat)),
                        )
                    )
            finally:
                cold.stop()
            hot = Server(workspace, root / "hot.log").start()
            try:
                hot.wait_for_pools(3)
                time.sleep(2)
                for label, (path, n) in (("QBR", QBR), ("explorer", EXPLORER)):
                    times = []
                    for _ in range(args.repeat):
                        times.append(visit(browser, hot, path, n))
                        time.sleep(6)  # let the pool refill
                    rows.append((f"{label}: preheated kernel", statistics.median(times)))
                burst = [visit(browser, hot, QBR[0], QBR[1]) for _ in range(3)]
                rows.append(("QBR: 3rd of 3 back-to-back visits (pool of 2 used up)", burst[-1]))
                time.sleep(6)
                switches = switch_times(browser, hot, accounts)
                rows.append(("explorer: change account → chart redrawn (median)", statistics.median(switches)))
                time.sleep(6)
                memory = []
                for i in range(args.visits):
                    visit(browser, hot, EXPLORER[0], EXPLORER[1])
                    if i + 1 in (10, args.visits):
                        time.sleep(4)
                        memory.append(hot.memory_mb())
            finally:
                hot.stop()
            browser.close()
    base = {"QBR": rows[0][1], "explorer": rows[1][1]}
    print(f"{'measure':<58} {'seconds':>8} {'vs cold':>8}")
    for label, seconds in rows:
        app = label.split(":")[0]
        ratio = f"{seconds / base[app]:.2f}" if app in base and "change" not in label else ""
        print(f"{label:<58} {seconds:8.2f} {ratio:>8}")
    print(
        f"memory of server + kernels after 10 and {args.visits} explorer visits: "
        f"{memory[0]:.0f} MB → {memory[-1]:.0f} MB ({memory[-1] / memory[0]:.2f}×)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
