"""A report's parameters checked against the workspace before any work: the account is one of its accounts, the
quarter is one it holds data for. A wrong one is a :class:`~kam_helpers.core.errors.ParameterError` that names
the parameter and says what exists, so the notebook (JupyterLab, Voilà, papermill) shows one short message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kam_helpers.core.errors import ConfigError, ParameterError
from kam_helpers.core.quarters import Quarter

if TYPE_CHECKING:
    from kam_helpers.data.store import Workspace

IDS_SHOWN = 8  # a message lists at most this many account ids


def data_quarters(ws: Workspace) -> tuple[Quarter | None, Quarter | None]:
    """The workspace → (first quarter with an active shipment, quarter of its newest event); None where unknown."""
    first = None
    if "shipments" in ws.tables:
        row = ws.query(f"SELECT min(quarter) AS q FROM {ws.activity}")["q"].iloc[0]
        first = Quarter.parse(row) if isinstance(row, str) else None
    as_of = ws.as_of
    return first, (Quarter.of(as_of.date()) if as_of is not None else None)


def quarters_text(ws: Workspace) -> str:
    """'the workspace has data for 2023Q1 to 2026Q4 (last complete quarter: 2026Q3)', or that it has none."""
    first, last = data_quarters(ws)
    if last is None:
        return "the workspace holds no dated data yet"
    span = f"{first} to {last}" if first is not None and first != last else str(last)
    return f"the workspace has data for {span} (last complete quarter: {ws.last_complete_quarter()})"


def check_account(ws: Workspace, account_id: str) -> None:
    """Nothing when ``account_id`` is '' (the first account) or one of the workspace's; else ParameterError
    naming ``account_id`` and listing the accounts."""
    if not account_id:
        return
    ids = ws.account_ids()
    if account_id in ids:
        return
    shown = ", ".join(ids[:IDS_SHOWN]) + (f", … {ids[-1]}" if len(ids) > IDS_SHOWN else "")
    known = f"its {len(ids)} accounts are {shown}" if ids else "it holds no accounts yet"
    raise ParameterError(
        "account_id", f"account_id {account_id!r} is not an account of this workspace: {known} (`kam accounts`)"
    )


def check_quarter(ws: Workspace, quarter: str | Quarter) -> None:
    """Nothing when ``quarter`` is '' (the last complete one) or a quarter with data; else ParameterError naming
    ``quarter``: not a quarter at all, or one before or after the workspace's data."""
    if not quarter:
        return
    try:
        q = Quarter.parse(quarter)
    except ConfigError:
        raise ParameterError(
            "quarter", f"quarter {str(quarter)!r} is not a quarter like 2026Q3: {quarters_text(ws)}"
        ) from None
    first, last = data_quarters(ws)
    if last is not None and q > last:
        raise ParameterError("quarter", f"quarter {q} has no data yet: {quarters_text(ws)}")
    if first is not None and q < first:
        raise ParameterError("quarter", f"quarter {q} has no data: {quarters_text(ws)}")


def check(ws: Workspace, account_id: str = "", quarter: str | Quarter = "") -> None:
    """Both checks, the account first."""
    check_account(ws, account_id)
    check_quarter(ws, quarter)
