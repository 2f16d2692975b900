"""The account-intelligence analyses one QBR presents, gathered once per report.

``gather(...)`` → :class:`Insights`: last QBR's commitments with their status, the forecast with its backtest
accuracy, the invoice audit, whitespace against comparable accounts (anonymous aggregates only), renewal, and,
for internal readers only, the health score and the root causes of late deliveries and repeat complaints. An analysis that the data cannot support is None; the narrative
then says there is no data for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kam_helpers import metrics
from kam_helpers.analyses import audit, commitments, forecast, health, renewal, root_cause, whitespace
from kam_helpers.core import paths
from kam_helpers.core.errors import NoDataError
from kam_helpers.core.formatting import is_number
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.account_data import AccountData
from kam_helpers.metrics.scorecard import Scorecard


@dataclass(frozen=True)
class Insights:
    """What the analyses found for one account and quarter (None = not computable from this workspace)."""

    carried: list[commitments.CarriedItem] | None = None  # None: no earlier QBR on record
    forecast: forecast.Forecast | None = None
    audit: audit.Audit | None = None
    whitespace: whitespace.Whitespace | None = None
    renewal: renewal.Renewal | None = None
    health: health.HealthScore | None = None  # internal readers only
    root_cause: root_cause.RootCause | None = None  # internal readers only: hotspots and repeat complaints
    has_revenue: bool = True  # False when no shipment records a revenue: no revenue forecast

    def _forecast_figures(self, metric: str) -> dict:
        """One forecast metric → quarter, point, lower, upper, mape, mase, origins, method, has_range."""
        fc = self.forecast
        assert fc is not None
        row = {**fc.next_quarter(metric), **fc.accuracy(metric), "method": fc.method[metric]}
        row["has_range"] = is_number(row.get("lower")) and is_number(row.get("upper"))
        return row

    def figures(self, currency: str | None) -> dict:
        """Template-ready figures (numbers stay numbers; templates format them). ``carried`` is None when no
        earlier QBR is on record; a forecast metric without data (no revenue recorded) is None, and its
        ``has_range`` is False when the interval cannot be computed yet (too few quarters)."""
        out: dict = {"carried": self.carried}
        if self.forecast is not None and not self.forecast.frame.empty:
            out["forecast"] = {
                m: self._forecast_figures(m) if m != "revenue" or self.has_revenue else None
                for m in ("shipments", "revenue")
            }
            out["forecast_level_pct"] = self.forecast.level * 100
        if self.audit is not None:
            billing = self.audit.by_kind[self.audit.by_kind["kind"].isin(audit.BILLING_KINDS)]
            out["audit"] = {
                "checked": self.audit.shipments_checked,
                "billing_count": int(billing["count"].sum()),
                "over": float(billing.loc[billing["amount"] > 0, "amount"].sum()),
                "under": float(-billing.loc[billing["amount"] < 0, "amount"].sum()),
                "net": float(billing["amount"].sum()),
                "duplicates": int(
                    self.audit.by_kind.loc[self.audit.by_kind["kind"] == "duplicate_line", "count"].sum()
                ),
            }
        if self.whitespace is not None:
            out["gaps"] = self.whitespace.gaps.to_dict("records")[:3]
        if self.renewal is not None and self.renewal.committed_annual:
            out["pace_pct"] = self.renewal.pace_pct
            out["projected_year"] = self.renewal.projected_year
            out["committed_annual"] = self.renewal.committed_annual
        if self.root_cause is not None:
            out["root_cause"] = self.root_cause.figures()
        return out


def health_or_none(
    source: AccountData | metrics.PreparedAccount, quarter: Quarter, *, with_history: bool = True
) -> health.HealthScore | None:
    """AccountData (or its PreparedAccount), quarter → its HealthScore, None when no health measure has data."""
    return _try(health.health_score, source, quarter, with_history=with_history)


def _try(fn, *args, **kwargs):
    """Run one analysis; its NoDataError (no data for it) becomes None rather than failing the whole report."""
    try:
        return fn(*args, **kwargs)
    except NoDataError:
        return None


def gather(
    source: AccountData | metrics.PreparedAccount,
    quarter: Quarter,
    workspace: object,
    *,
    now: Scorecard,
    before: Scorecard,
    internal: bool = False,
    health: health.HealthScore | None = None,
    reports: Path | str = "",
) -> Insights:
    """AccountData (or, to derive its frames only once, its PreparedAccount), quarter, an open Workspace (for the anonymous peer comparison), this and the previous
    quarter's scorecards as the reader sees them (, the health score when computed, the reports folder holding
    the previous QBR's manifest: '' = the project's) → Insights. The health score is kept for internal
    readers only."""
    prepared = metrics.as_prepared(source)
    data = prepared.data
    has_shipments = data.shipments is not None and not data.shipments.empty
    stored = commitments.stored_items(reports or paths.reports_dir(), data.account_id, Quarter.parse(quarter).prior)
    if internal and health is None:
        health = health_or_none(prepared, quarter)
    return Insights(
        carried=commitments.carry_over(data, quarter, items=stored, now=now, before=before),
        forecast=_try(forecast.forecast, prepared, quarter) if has_shipments else None,
        audit=_try(audit.invoice_audit, prepared, quarter)
        if data.has("invoice_lines") and data.has("rate_cards")
        else None,
        whitespace=_try(whitespace.whitespace, workspace, data.account_id, quarter, data=prepared)
        if has_shipments
        else None,
        renewal=_try(renewal.renewal, prepared, quarter),
        health=health if internal else None,
        root_cause=_try(root_cause.root_causes, data, quarter) if internal and has_shipments else None,
        has_revenue=metrics.recorded(data.shipments, "revenue"),
    )
