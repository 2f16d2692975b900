"""Commitments across QBRs: the action items agreed at the previous quarter's QBR, carried into this one with
their status and the evidence for it.

History comes only from history: the items are those the previous QBR stored (``kam qbr`` writes each account's
action items into ``reports/<quarter>/manifest.json``; :func:`stored_items` reads them back). Without a stored
previous QBR there is nothing to carry over, and the report says it is the first on record; nothing is
re-derived from the previous quarter's data.

``carry_over(data, quarter, items=...)`` judges each stored item against this quarter's scorecard:

* ``done`` when the KPI behind the item (its ``reason_kpi``) now meets its target (RAG green), or — for a KPI
  without a target — is better than at the previous quarter; for unbilled shipments, when none of the
  previous quarter's shipments is still unbilled; for renewal, when the contract now ends more than
  assessment.RENEWAL_WINDOW_DAYS after this quarter; for a backlog, when no case is open at quarter end;
* otherwise ``overdue`` when its due date is before the end of this quarter, else ``open``;
* items that the data cannot measure (an opportunity's progress, a growth plan) stay ``open`` and say so.

``evidence`` is a sentence with the figures used.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kam_helpers import metrics
from kam_helpers.analyses import assessment
from kam_helpers.core.errors import KamError
from kam_helpers.core.formatting import fmt_quarter, fmt_value
from kam_helpers.core.quarters import Quarter
from kam_helpers.data.account_data import AccountData
from kam_helpers.metrics.scorecard import Kpi, Scorecard

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
        days = assessment.days_to_renewal(now)
        if days is None:
            return None, "no contract end date in the data"
        return days > assessment.RENEWAL_WINDOW_DAYS, f"the contract now ends in {days} days"
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


MANIFEST = "manifest.json"


def item_record(item: assessment.ActionItem) -> dict[str, str]:
    """ActionItem → the plain record a manifest stores: text, owner, due (ISO date), reason_kpi."""
    return {"text": item.text, "owner": item.owner, "due": item.due.isoformat(), "reason_kpi": item.reason_kpi}


def stored_items(
    reports_dir: str | Path, account_id: str, quarter: Quarter | str
) -> list[assessment.ActionItem] | None:
    """The reports folder (one folder per quarter), account, quarter → the action items the account's QBR of
    ``quarter`` stored in ``<reports_dir>/<quarter>/manifest.json``; None when no QBR of that quarter is on record
    (no manifest, the account absent or failed, or a manifest written before action items were stored).
    KamError naming the file when a stored item is malformed."""
    path = Path(reports_dir) / str(Quarter.parse(quarter)) / MANIFEST
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    entry = next((a for a in doc.get("accounts", []) if a.get("account_id") == account_id), None)
    if entry is None or entry.get("status") != "ok" or entry.get("action_items") is None:
        return None
    items = []
    for i, raw in enumerate(entry["action_items"]):
        try:
            items.append(
                assessment.ActionItem(
                    text=str(raw["text"]),
                    owner=str(raw["owner"]),
                    due=dt.date.fromisoformat(str(raw["due"])),
                    reason_kpi=str(raw.get("reason_kpi", "")),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise KamError(
                f"{path}: accounts[{account_id}].action_items[{i}]: expected text, owner, due (YYYY-MM-DD) ({exc})"
            ) from exc
    return items


def carry_over(
    data: AccountData,
    quarter: Quarter | str,
    *,
    items: Sequence[assessment.ActionItem] | None,
    now: Scorecard | None = None,
    before: Scorecard | None = None,
) -> list[CarriedItem] | None:
    """AccountData, quarter under review, the action items the previous QBR stored (:func:`stored_items`; None
    when there was no previous QBR) → those items with status and evidence; None when there is no previous QBR
    on record. ``now`` and ``before`` are the two quarters' scorecards when the caller has them already."""
    if items is None:
        return None
    q = Quarter.parse(quarter)
    before = before if before is not None else metrics.scorecard(data, q.prior)
    now = now if now is not None else metrics.scorecard(data, q)
    carried = []
    for item in items:
        met, evidence = judge(item.reason_kpi, now, before, data)
        carried.append(
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
    return carried
