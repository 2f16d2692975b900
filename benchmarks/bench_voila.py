"""Voilà apps in a real browser (`make bench`): seconds from a request to the last chart drawn, cold and with
preheated kernels, and from a change of account or quarter in the explorer to the complete page (every chart and
panel of the new selection; ``--switch-only`` measures just that); memory over many visits; the first visits
once `kam serve` says it is ready (``--first-visits-only`` measures just those).

Baselines are measured in the same run: a `kam serve --pool-size 0` (every visit starts a kernel) against
the default preheated pools, and the first visits after the ready line against the same visits on the same
server once its pools are full again. Needs Chromium (Debian's /usr/bin/chromium); prints a note and exits 0
without.
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


# ------------------------------------------------------------------------------------ the explorer's switch
# A switch is complete when the header names the new selection, every chart's subtitle and every analysis panel's
# title says "<name> · <quarter>", no panel is still computing, all are visible, and no area names the previous
# selection. Polled on every animation frame; frames where the visible page names both selections are counted.
SWITCH_AREAS = ".kam-x-header, .kam-x-chart, .kam-x-panel-title, .kam-x-panel"
SWITCH_JS = """([areas, name, quarter, label, gone]) => {
  const t0 = performance.now(); let mixed = 0, chartsAt = null; window.kamSwitch = null;
  const has = (sel, s) => Array.from(document.querySelectorAll(sel)).every(e => e.textContent.includes(s));
  const tick = () => {
    const seen = e => e.checkVisibility({visibilityProperty: true});
    const all = Array.from(document.querySelectorAll(areas)).filter(seen).map(e => e.textContent).join('\\n');
    const old = all.includes(gone), now = all.includes(label);
    if (old && now) mixed++;
    const charts = Array.from(document.querySelectorAll('.kam-x-chart'));
    if (chartsAt === null && !old && charts.length > 0 && charts.every(c => seen(c) && c.textContent.includes(label)
        && c.querySelector('.vega-embed svg, .kam-note'))) chartsAt = (performance.now() - t0) / 1000;
    const done = !old && !document.querySelector('.kam-loading') && has('.kam-x-header', name)
      && Array.from(document.querySelectorAll('.kam-x-header, .kam-x-chart')).every(seen)
      && has('.kam-x-header', quarter) && has('.kam-x-panel-title', label)
      && charts.length > 0 && charts.every(c => c.textContent.includes(label) || c.querySelector('.kam-note'));
    if (done) window.kamSwitch = {seconds: (performance.now() - t0) / 1000, charts: chartsAt, mixed};
    else requestAnimationFrame(tick);
  };
  tick();
}"""
SWITCHES = [  # (control, value) from the explorer's first view (its first account, the last complete quarter)
    ("account", "ACC-002"),
    ("account", "ACC-003"),
    ("account", "ACC-004"),
    ("quarter", "2026Q2"),
    ("account", "ACC-005"),
    ("account", "ACC-001"),
]


def switch_times(
    browser, server: Server, names: dict[str, str], look: float = 1.0
) -> list[tuple[str, float, float, int]]:
    """Open the explorer, then make SWITCHES one after the other, ``look`` seconds apart (the KAM reading the
    page) → (what changed, seconds from the change to the complete page, seconds to every chart drawn for the
    new selection, frames whose visible areas named two selections)."""
    from kam_helpers.core.formatting import fmt_quarter

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server.link(EXPLORER[0]), wait_until="commit", timeout=120_000)
    page.wait_for_function(f"() => document.querySelectorAll({CHART!r}).length >= 4", timeout=120_000)
    account, quarter = "ACC-001", "2026Q3"
    out = []
    for control, value in SWITCHES:
        page.wait_for_timeout(look * 1000)
        gone = names[account] if control == "account" else f"{names[account]} · {fmt_quarter(quarter)}"
        account, quarter = (value, quarter) if control == "account" else (account, value)
        name, q = names[account], fmt_quarter(quarter)
        select = page.locator(".kam-x-controls select").nth(0 if control == "account" else 1)
        page.evaluate(SWITCH_JS, [SWITCH_AREAS, name, q, f"{name} · {q}", gone])
        select.select_option(label=f"{name} ({account})" if control == "account" else q)
        result = page.wait_for_function("() => window.kamSwitch", timeout=120_000).json_value()
        out.append((f"{control} → {value}", result["seconds"], result["charts"] or result["seconds"], result["mixed"]))
    leave(page)
    return out


def switch_rows(browser, server: Server, names: dict[str, str]) -> list[tuple[str, float]]:
    """The explorer's switches, back to back (1 s apart) and read (8 s apart) → benchmark rows (medians)."""
    rows = []
    for look in (1.0, 8.0):
        times = switch_times(browser, server, names, look)
        for label, seconds, charts, mixed in times:
            print(
                f"  explorer switch {label} ({look:.0f} s after the last): charts {charts:.2f} s, "
                f"complete {seconds:.2f} s, {mixed} frame(s) naming two selections"
            )
        every = f"explorer: switch {look:.0f} s apart →"
        rows.append((f"{every} every chart (median)", statistics.median(t[2] for t in times)))
        rows.append((f"{every} page complete (median)", statistics.median(t[1] for t in times)))
        rows.append((f"{every} page complete (max)", max(t[1] for t in times)))
        time.sleep(6)
    return rows


def switch_main() -> int:
    """``--switch-only``: a preheated `kam serve` on the sample book, the explorer's switches, their rows."""
    from playwright.sync_api import sync_playwright

    from kam_helpers.data.store import Workspace

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        root = Path(tmp)
        workspace = build_sample_workspace(root)
        with Workspace.open(workspace) as ws:
            names = dict(zip(ws.accounts()["account_id"], ws.accounts()["name"], strict=False))
        browser = launch(p)
        hot = Server(workspace, root / "hot.log").start()
        try:
            hot.wait_for_pools()
            rows = switch_rows(browser, hot, names)
        finally:
            hot.stop()
            browser.close()
    for label, seconds in rows:
        print(f"{label:<58} {seconds:8.2f}")
    return 0


def first_visits_after_ready(
    browser, workspace: Path, folder: Path, starts: int, extra: tuple[str, ...] = ()
) -> dict[str, list[float]]:
    """`kam serve` (with ``extra`` options) started ``starts`` times → seconds from the start to its ready line
    ("ready"), of the first explorer and QBR page visits after it ("explorer", "QBR"; to the last chart drawn),
    and of the same visits once every pool is full and warm again ("explorer full", "QBR full": the baseline,
    measured on the same server right after)."""
    times: dict[str, list[float]] = {"ready": [], "explorer": [], "QBR": [], "explorer full": [], "QBR full": []}
    for i in range(starts):
        start = time.perf_counter()
        server = Server(workspace, folder / f"ready-{i}.log", extra=list(extra)).start()
        times["ready"].append(time.perf_counter() - start)
        try:
            for suffix in ("", " full"):
                for app, (path, charts) in (("explorer", EXPLORER), ("QBR", QBR)):
                    if suffix:
                        server.wait_for_pools()
                    times[app + suffix].append(visit(browser, server, path, charts))
        finally:
            server.stop()
    return times


def print_first_visits(times: dict[str, list[float]]) -> None:
    """The first visits after the ready line against the same visits with full pools (medians of the starts;
    the ratio is the median of each start's ratio)."""
    print(f"{'first visits after the ready line (median)':<58} {'seconds':>8} {'vs full':>8}")
    print(f"{'kam serve: start → ready line':<58} {statistics.median(times['ready']):8.2f}")
    for app in ("explorer", "QBR"):
        ratio = statistics.median(a / b for a, b in zip(times[app], times[app + " full"], strict=True))
        print(f"{app + ': first visit after ready':<58} {statistics.median(times[app]):8.2f} {ratio:8.2f}")
        print(f"{app + ': the same visit with full pools':<58} {statistics.median(times[app + ' full']):8.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--visits", type=int, default=50, help="visits for the memory check (default 50)")
    parser.add_argument("--repeat", type=int, default=3, help="visits per timing (median; default 3)")
    parser.add_argument("--switch-only", action="store_true", help="only the explorer's switches (preheated server)")
    parser.add_argument("--starts", type=int, default=3, help="starts of `kam serve` for the first visits (default 3)")
    parser.add_argument(
        "--first-visits-only", action="store_true", help="only the first visits after ready and their baseline"
    )
    args, _ = parser.parse_known_args(argv)
    if not chromium_available():
        print("bench_voila: no Chromium, skipped")
        return 0
    if args.switch_only:
        return switch_main()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        workspace = build_sample_workspace(root)
        from kam_helpers.data.store import Workspace

        with Workspace.open(workspace) as ws:
            names = dict(zip(ws.accounts()["account_id"], ws.accounts()["name"], strict=False))
        rows: list[tuple[str, float]] = []
        if args.first_visits_only:
            with sync_playwright() as p:
                browser = launch(p)
                first_visits = first_visits_after_ready(browser, workspace, root, args.starts)
                browser.close()
            print_first_visits(first_visits)
            return 0
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
                for label, (path, n) in (("QBR", QBR), ("explorer", EXPLORER)):
                    times = []
                    for _ in range(args.repeat):
                        hot.wait_for_pools()  # every kernel warm again after the last visit
                        times.append(visit(browser, hot, path, n))
                    rows.append((f"{label}: preheated kernel", statistics.median(times)))
                burst = [visit(browser, hot, QBR[0], QBR[1]) for _ in range(3)]
                rows.append(("QBR: 3rd of 3 back-to-back visits (pool of 2 used up)", burst[-1]))
                time.sleep(6)
                rows.extend(switch_rows(browser, hot, names))
                memory = []
                for i in range(args.visits):
                    visit(browser, hot, EXPLORER[0], EXPLORER[1])
                    if i + 1 in (10, args.visits):
                        time.sleep(4)
                        memory.append(hot.memory_mb())
            finally:
                hot.stop()
            first_visits = first_visits_after_ready(browser, workspace, root, args.starts)
            browser.close()
    base = {"QBR": rows[0][1], "explorer": rows[1][1]}
    print(f"{'measure':<58} {'seconds':>8} {'vs cold':>8}")
    for label, seconds in rows:
        app = label.split(":")[0]
        ratio = f"{seconds / base[app]:.2f}" if app in base and "switch" not in label else ""
        print(f"{label:<58} {seconds:8.2f} {ratio:>8}")
    print(
        f"memory of server + kernels after 10 and {args.visits} explorer visits: "
        f"{memory[0]:.0f} MB → {memory[-1]:.0f} MB ({memory[-1] / memory[0]:.2f}×)"
    )
    print_first_visits(first_visits)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
