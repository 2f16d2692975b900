"""The analyst's API: ``Account.series`` at day, week and month over four quarters on the sample book, against
the same series computing every KPI of each period (what the scorecard's period_values did before it took
``keys``), in one run: medians of a few repeats and their ratio."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from kam_helpers import api, metrics
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.sources import folder_loader
from kam_helpers.data.store import build_workspace
from kam_helpers.devtools.sample_book import generate_book


def every_kpi_series(prep: metrics.PreparedAccount, kpi: str, spans: list[metrics.Span]) -> list[float | None]:
    """The baseline: each period's every KPI computed, one kept."""
    return [metrics.period_values(prep, span)[kpi] for span in spans]


def median_seconds(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args, _ = parser.parse_known_args()  # run.py passes every benchmark the same arguments
    root = Path(tempfile.mkdtemp(prefix="kam-bench-api-"))
    quarter = Quarter(2026, 3)
    generate_book(root / "exports", end_quarter=quarter)
    build_workspace(root / "workspace", folder_loader(root / "exports"))
    with api.open(root / "workspace") as ws:
        account = ws.account("ACC-002")
        prep = account.prepared(quarter)
        print(f"{'series over 4 quarters':<28} {'every KPI (s)':>14} {'one KPI (s)':>12} {'ratio':>6}")
        for freq in ("D", "W", "M"):
            spans = api.series.periods(freq, quarter, 4, ws.as_of)

            def baseline(spans: list[metrics.Span] = spans) -> None:
                prep.memo.clear()
                every_kpi_series(prep, "otd_pct", spans)

            def ours(freq: str = freq) -> None:
                prep.memo.clear()
                account.series("otd_pct", freq=freq, quarters=4, quarter=quarter)  # type: ignore[arg-type]

            before, after = median_seconds(baseline, args.repeats), median_seconds(ours, args.repeats)
            label = f"otd_pct, freq={freq} ({len(spans)} periods)"
            print(f"{label:<28} {before:>14.2f} {after:>12.2f} {after / before:>6.2f}")


if __name__ == "__main__":
    main()
