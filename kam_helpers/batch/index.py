"""The batch's book-of-business page: reports/<quarter>/index.html, headline KPIs of every account, linked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from kam_helpers.batch.jobs import AccountResult
from kam_helpers.core.files import write_atomic
from kam_helpers.core.formatting import fmt_count, fmt_money, fmt_pct
from kam_helpers.core.paths import TEMPLATES_DIR
from kam_helpers.core.safe_html import REPORT_CSP, csp_meta
from kam_helpers.exports.html import report_css


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.filters.update(money=fmt_money, pct=fmt_pct, count=fmt_count)
    return env


def index_rows(results: Sequence[AccountResult]) -> list[dict]:
    """Batch results → rows for the index, largest revenue first, failed accounts on top."""
    rows: list[dict[str, Any]] = []
    for r in results:
        k = r.kpis or {}
        rows.append(
            {
                "account_id": r.account_id,
                "name": r.name or r.account_id,
                "status": r.status,
                "skipped": r.skipped,
                "error": (r.error or "").splitlines()[0][:300] if r.error else "",
                "currency": k.get("currency"),
                "revenue": k.get("revenue"),
                "shipments": k.get("shipments"),
                "otd_pct": k.get("otd_pct"),
                "gross_margin_pct": k.get("gross_margin_pct"),
                "invoice_accuracy_pct": k.get("invoice_accuracy_pct"),
                "cases_opened": k.get("cases_opened"),
                "health": k.get("assessment"),
                "health_score": k.get("health_score"),
                "health_band": k.get("health_band"),
                "outputs": r.outputs,
                "seconds": r.seconds,
            }
        )
    rows.sort(key=lambda x: (x["status"] == "ok", -float(x["revenue"] or 0)))
    return rows


def write_index(out_dir: Path, quarter: str, results: Sequence[AccountResult]) -> Path:
    """Results → out_dir/index.html (written atomically); returns its path."""
    rows = index_rows(results)
    totals: dict[str, float] = {}
    for row in rows:
        if row["revenue"] is not None:
            totals[row["currency"] or ""] = totals.get(row["currency"] or "", 0.0) + row["revenue"]
    html = (
        _env()
        .get_template("index.html.j2")
        .render(
            quarter=quarter,
            rows=rows,
            css=report_css(),
            csp=csp_meta(REPORT_CSP),
            revenue_totals=sorted(totals.items()),
            shipments_total=sum(r["shipments"] or 0 for r in rows),
            failed=sum(r["status"] != "ok" for r in rows),
        )
    )
    path = Path(out_dir) / "index.html"
    write_atomic(path, html)
    return path
