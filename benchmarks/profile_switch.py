"""Where the explorer's account switch spends its time, kernel side, outside the browser.

    .venv/bin/python benchmarks/profile_switch.py [--workspace DIR] [--top 25]

Builds the sample book in a temporary folder (unless ``--workspace``), opens the explorer on its first account,
then times each step of computing the next accounts' views (views.view_steps: load from DuckDB, prepare and
scorecard, Altair charts to Vega-Lite specs, each analysis, panels), swapping a view into the widgets, and the
size of what that sends; medians over the accounts. Last, a cProfile of one uncached switch.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

STEPS = ("load", "prepare + scorecard", "charts → specs", "health", "forecast", "audit", "renewal", "root causes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", default="", help="a workspace folder (default: a fresh sample book)")
    parser.add_argument("--top", type=int, default=25, help="functions listed from the profile")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workspace = args.workspace
        if not workspace:
            from test_browser import build_sample_workspace

            workspace = str(build_sample_workspace(Path(tmp)))
        return profile(workspace, args.top)


def profile(workspace: str, top: int) -> int:
    from kam_helpers.apps import views
    from kam_helpers.apps.explorer import AccountExplorer

    explorer = AccountExplorer(workspace)
    quarter = explorer.quarter.value
    ids = list(explorer.source.accounts)[1:]
    timings: dict[str, list[float]] = {}
    for account_id in ids[:-1]:
        steps = views.view_steps(explorer.source, account_id, quarter)
        names = iter((*STEPS, "panels, drill-down, what-if"))
        while True:
            start = time.perf_counter()
            try:
                next(steps)
            except StopIteration as done:
                timings.setdefault(next(names), []).append(time.perf_counter() - start)
                view = done.value
                break
            timings.setdefault(next(names), []).append(time.perf_counter() - start)
        start = time.perf_counter()
        explorer._apply(view)
        timings.setdefault("swap into the widgets", []).append(time.perf_counter() - start)
        states = [w.get_state() for w in (explorer.header, explorer.cards, *explorer.panels.values(), explorer.table)]
        states += [{"outputs": out.outputs} for out in explorer.charts.values()]
        start = time.perf_counter()
        size = len(json.dumps(states, default=str))
        timings.setdefault("serialise the updates (JSON)", []).append(time.perf_counter() - start)
        timings.setdefault("bytes sent", []).append(size)
    total = sum(statistics.median(v) for k, v in timings.items() if k != "bytes sent")
    print(f"{'step of one switch (median over ' + str(len(ids) - 1) + ' accounts)':<48} {'seconds':>8} {'share':>6}")
    for name, values in timings.items():
        if name == "bytes sent":
            print(f"{'bytes of widget state sent':<48} {statistics.median(values):8,.0f}")
            continue
        median = statistics.median(values)
        print(f"{name:<48} {median:8.3f} {median / total:6.0%}")
    print(f"{'total':<48} {total:8.3f}")
    last = ids[-1]
    profiler = cProfile.Profile()
    profiler.enable()
    explorer.account.value = last
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    print(f"\ncProfile of the switch to {last} (not cached):\n{out.getvalue()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
