"""Commitments across QBRs: the action items agreed at the previous quarter's QBR, carried into this one with
their status and the evidence for it.

``carry_over(data, quarter)`` rebuilds the previous QBR's action items (narrative.action_items on the previous
quarter's scorecard, as that QBR produced them) and judges each against this quarter's scorecard:

* ``done`` when the KPI behind the item (its ``reason_kpi``) now meets its target (RAG green), or — for a KPI
  without a target — is better than at the previous quarter; for unbilled shipments, when none of the
  previous quarter's shipments is still unbilled; for renewal, when the contract now ends more than
  narrative.RENEWAL_WINDOW_DAYS after this quarter; for a backlog, when no case is open at quarter end;
* otherwise ``overdue`` when its due date is before the end of this quarter, else ``open``;
* items that the data cannot measure (an opportunity's progress, a growth plan) stay ``open`` and say so.

``evidence`` is a sentence with the figures used.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from . import metrics, narrative
from .account_data import AccountData
from .formatting import fmt_quarter, fmt_value
from .quarters import Quarter
from .scorecard import Kpi, Scorecard

Status = Literal["done", "open", "overdue"]
UNMEASURABLE = ("pipeline", "health")


@dataclass(frozen=True)
class CarriedItem:
    """An action item from a previous QBR with its status now."""

    text: str
    owner: str
    due: dt.date
    from_quarter: str
    reason_kpi: str
    status: Status
    evidence: str


def _fmt(kpi: Kpi, value: float | None, currency: str | None = None) -> str:
    """A value in the KPI's unit as every report writes it (formatting.fmt_value)."""
    return "no data" if value is None else fmt_value(value, kpi.unit, currency)


def judge(key: str, now: Scorecard, before: Scorecard, data: AccountData) -> tuple[bool | None, str]:
    """reason_kpi, this quarter's and the previous quarter's scorecards, data → (met? None = cannot tell,
    evidence sentence)."""
    if key in UNMEASURABLE:
        return None, "not measurable from the data: confirm its progress in the QBR"
    if key == "days_to_renewal":
        days = narrative.days_to_renewal(now)
        if days is None:
            return None, "no contract end date in the data"
        return days > narrative.RENEWAL_WINDOW_DAYS, f"the contract now ends in {days} days"
    if key == "unbilled_shipments":
        left = (
            metrics.unbilled_shipments(data.shipments, data.invoice_lines, before.quarter)
            if data.shipments is not None
            else None
        )
        if left is None:
            return None, "no invoice lines in the data"
        return left == 0, f"{left} of {fmt_quarter(before.quarter)}'s shipments are still unbilled"
    kpi, prior = now.kpis.get(key), before.kpis.get(key)
    cur = now.account.get("currency")
    if kpi is None or kpi.value is None:
        return None, f"{key}: no data this quarter"
    if key == "cases_backlog":
        return kpi.value == 0, f"{_fmt(kpi, kpi.value, cur)} cases open at the end of {fmt_quarter(now.quarter)}"
    if kpi.target is not None:
        met = kpi.rag == "green"
        return met, (
            f"{kpi.label} {_fmt(kpi, kpi.value, cur)} in {fmt_quarter(now.quarter)} vs target {_fmt(kpi, kpi.target, cur)} "
            f"({kpi.rag})"
        )
    if prior is None or prior.value is None:
        return None, f"{kpi.label} {_fmt(kpi, kpi.value, cur)} in {fmt_quarter(now.quarter)}; nothing to compare with"
    better = kpi.value > prior.value if kpi.higher_is_better else kpi.value < prior.value
    return (
        better,
        f"{kpi.label} {_fmt(kpi, prior.value, cur)} in {fmt_quarter(before.quarter)} → {_fmt(kpi, kpi.value, cur)} in {fmt_quarter(now.quarter)}",
    )


def status(met: bool | None, due: dt.date, quarter: Quarter) -> Status:
    """met?, due date, quarter under review → 'done' when met; 'overdue' when not met (or unknown, if the
    data can measure it) and due before the quarter's end; else 'open'. Unknown → 'open'."""
    if met:
        return "done"
    if met is None:
        return "open"
    return "overdue" if due < quarter.end else "open"


def carry_over(
    data: AccountData, quarter: Quarter | str, *, now: Scorecard | None = None, before: Scorecard | None = None
) -> list[CarriedItem]:
    """AccountData, quarter under review → the previous quarter's QBR action items with status and evidence
    (empty when the previous quarter had no scorecard to act on, e.g. no shipments at all). ``now`` and
    ``before`` are the two quarters' scorecards when the caller has them already (e.g. a client's view)."""
    q = Quarter.parse(quarter)
    before = before if before is not None else metrics.scorecard(data, q.prior)
    now = now if now is not None else metrics.scorecard(data, q)
    if before.value("shipments") in (None, 0):
        return []
    items = []
    for item in narrative.action_items(before):
        met, evidence = judge(item.reason_kpi, now, before, data)
        items.append(
            CarriedItem(
                text=item.text,
                owner=item.owner,
                due=item.due,
                from_quarter=str(q.prior),
                reason_kpi=item.reason_kpi,
                status=status(met, item.due, q),
                evidence=evidence,
            )
        )
    return items
