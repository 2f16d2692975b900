"""The account-intelligence analyses one QBR presents, gathered once per report.

``gather(...)`` → :class:`Insights`: last QBR's commitments with their status, the forecast with its backtest
accuracy, the invoice audit, whitespace against comparable accounts (anonymous aggregates only), renewal, and,
for internal readers only, the health score. An analysis that the data cannot support is None; the narrative
then says there is no data for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import audit, commitments, forecast, health, renewal, whitespace
from .account_data import AccountData
from .errors import KamError
from .quarters import Quarter
from .scorecard import Scorecard


@dataclass(frozen=True)
class Insights:
    """What the analyses found for one account and quarter (None = not computable from this workspace)."""

    carried: list[commitments.CarriedItem] = field(default_factory=list)
    forecast: forecast.Forecast | None = None
    audit: audit.Audit | None = None
    whitespace: whitespace.Whitespace | None = None
    renewal: renewal.Renewal | None = None
    health: health.HealthScore | None = None  # internal readers only

    def figures(self, currency: str | None) -> dict:
        """Template-ready figures (numbers stay numbers; templates format them)."""
        out: dict = {"carried": self.carried}
        if self.forecast is not None and not self.forecast.frame.empty:
            out["forecast"] = {
                m: {**self.forecast.next_quarter(m), **self.forecast.accuracy(m), "method": self.forecast.method[m]}
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
        return out


def _try(fn, *args, **kwargs):
    """Run one analysis; its KamError (no data for it) becomes None rather than failing the whole report."""
    try:
        return fn(*args, **kwargs)
    except KamError:
        return None


def gather(
    data: AccountData,
    quarter: Quarter,
    workspace: object,
    *,
    now: Scorecard,
    before: Scorecard,
    internal: bool = False,
) -> Insights:
    """AccountData, quarter, an open Workspace (for the anonymous peer comparison), this and the previous
    quarter's scorecards as the reader sees them → Insights."""
    has_shipments = data.shipments is not None and not data.shipments.empty
    return Insights(
        carried=_try(commitments.carry_over, data, quarter, now=now, before=before) or [],
        forecast=_try(forecast.forecast, data, quarter) if has_shipments else None,
        audit=_try(audit.invoice_audit, data, quarter)
        if data.has("invoice_lines") and data.has("rate_cards")
        else None,
        whitespace=_try(whitespace.whitespace, workspace, data.account_id, quarter) if has_shipments else None,
        renewal=_try(renewal.renewal, data, quarter),
        health=_try(health.health_score, data, quarter) if internal else None,
    )
