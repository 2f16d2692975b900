"""Commitments: status rules, the evidence, and carrying the sample's action items into the next QBR."""

from __future__ import annotations

import datetime as dt

import pytest

from kam_helpers import commitments as cm
from kam_helpers.quarters import Quarter
from kam_helpers.store import Workspace

Q = Quarter(2026, 3)


@pytest.mark.parametrize(
    ("met", "due", "expected"),
    [
        (True, dt.date(2026, 8, 1), "done"),
        (False, dt.date(2026, 8, 1), "overdue"),  # due inside the quarter, KPI still missed
        (False, dt.date(2026, 10, 15), "open"),  # due after the quarter
        (None, dt.date(2026, 8, 1), "open"),  # not measurable: never called overdue
    ],
)
def test_status(met: bool | None, due: dt.date, expected: str) -> None:
    assert cm.status(met, due, Q) == expected


def test_carry_over_on_the_sample(book) -> None:
    with Workspace.open(book.workspace) as ws:
        carried = {a: cm.carry_over(ws.account_data(a), book.quarter) for a in (book.healthy, book.at_risk)}
    risky = {i.reason_kpi: i for i in carried[book.at_risk]}
    otd = risky["otd_pct"]
    assert otd.status == "overdue" and otd.from_quarter == str(book.quarter.prior)
    assert "On-time delivery" in otd.evidence and "(red)" in otd.evidence
    healthy = carried[book.healthy]
    assert healthy and all(i.status in ("done", "open") for i in healthy)
    assert [i.status for i in healthy if i.reason_kpi == "pipeline"] == ["open"]
    for items in carried.values():
        assert all(i.evidence and i.owner and i.due for i in items)
