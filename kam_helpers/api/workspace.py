"""The analyst's handle on a workspace: :func:`open` finds and opens the store read-only; :class:`Workspace`
lists the accounts, hands out :class:`~kam_helpers.api.account.Account` objects and compares accounts."""

from __future__ import annotations

import difflib
from pathlib import Path

import pandas as pd

from kam_helpers.api.account import Account, QuarterLike
from kam_helpers.api.locate import find_workspace
from kam_helpers.api.series import check_kpi
from kam_helpers.core.errors import UnknownAccountError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data import store

SHOWN_IDS = 12  # an unknown account's error lists at most this many of the workspace's ids


class Workspace:
    """A workspace store opened read-only (``kam.open()``); also a context manager that closes it.

    >>> with kam.open() as ws:
    ...     ws.account_ids(), str(ws.last_quarter)
    (['A1', 'A2'], '2026Q2')
    """

    def __init__(self, folder: Path) -> None:
        self.store = store.Workspace(folder)  # the data layer's handle: SQL with the account pushed down
        self.folder = self.store.folder
        self._accounts: dict[str, Account] = {}

    def __repr__(self) -> str:
        return f"<Workspace {self.folder}: {len(self.account_ids())} accounts, data to {self.as_of}>"

    def close(self) -> None:
        """Close the store (an open workspace keeps a read-only connection); ``with kam.open() as ws:`` does it.

        >>> ws = kam.open()
        >>> ws.close()
        """
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def as_of(self) -> pd.Timestamp | None:
        """The moment the data describes (its newest event, or the date given when it was built).

        >>> kam.open().as_of
        Timestamp('2026-09-29 10:00:00')
        """
        return self.store.as_of

    @property
    def last_quarter(self) -> Quarter:
        """The last quarter the data covers to its end: the quarter every method uses when given none.

        >>> kam.open().last_quarter
        Quarter(year=2026, q=2)
        """
        return self.store.last_complete_quarter()

    def accounts(self) -> pd.DataFrame:
        """Every account, one row each, ordered by id: account_id, name, industry, tier, region, owner (the
        KAM), contract_start, contract_end, currency, committed_shipments (the columns the store holds).

        >>> kam.open().accounts()[["account_id", "name", "owner", "contract_end"]]
          account_id         name    owner contract_end
        0         A1  Alpha Foods  Kim Lee   2027-06-30
        1         A2  Beta Motors  Kim Lee   2026-12-31
        """
        return self.store.accounts()

    def account_ids(self) -> list[str]:
        """The account ids, in order.

        >>> kam.open().account_ids()
        ['A1', 'A2']
        """
        return self.store.account_ids()

    def account(self, account_id: str) -> Account:
        """One account (the same object each time it is asked for, so what it computed is kept).
        UnknownAccountError for an id the workspace does not hold, naming the closest ids and listing others.

        >>> ws = kam.open()
        >>> ws.account("A2").name
        'Beta Motors'
        >>> ws.account("Alpha Foods")
        Traceback (most recent call last):
        ...
        kam_helpers.core.errors.UnknownAccountError: account 'Alpha Foods' is not in the workspace. Its 2 accounts: A1, A2
        """
        if account_id not in self._accounts:
            try:
                info = self.store.account(account_id)
            except UnknownAccountError:
                raise UnknownAccountError(self._unknown(account_id)) from None
            self._accounts[account_id] = Account(self, info)
        return self._accounts[account_id]

    def _unknown(self, account_id: str) -> str:
        """What to say about an id the workspace does not hold: the closest ids, then the first ones."""
        known = self.account_ids()
        by_case = {k.lower(): k for k in known}
        close = difflib.get_close_matches(str(account_id).lower(), list(by_case), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(by_case[c] for c in close)}?" if close else "."
        shown = ", ".join(known[:SHOWN_IDS]) + (", …" if len(known) > SHOWN_IDS else "")
        return f"account {account_id!r} is not in the workspace{hint} Its {len(known)} accounts: {shown}"

    def compare(
        self, account_ids: list[str], quarter: QuarterLike | None = None, kpis: list[str] | None = None
    ) -> pd.DataFrame:
        """KPIs of several accounts side by side for one quarter: one row per KPI (index ``kpi``; every KPI of
        the scorecard, or ``kpis``), one column per account id; NaN where an account's data has none.

        >>> kam.open().compare(["A1", "A2"], "2026Q3", kpis=["shipments", "revenue", "otd_pct"])
                      A1      A2
        kpi
        shipments    2.0     2.0
        revenue    700.0  1400.0
        otd_pct     50.0   100.0
        """
        keys = [check_kpi(k) for k in kpis] if kpis is not None else None
        columns = {}
        for account_id in account_ids:
            frame = self.account(account_id).scorecard(quarter).to_frame().set_index("kpi")["value"]
            columns[account_id] = frame if keys is None else frame.loc[keys]
        return pd.DataFrame(columns).rename_axis("kpi")

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Read-only SQL against the store (tables of docs/DATA_MODEL.md) → DataFrame; ``?`` marks a parameter.

        >>> kam.open().query("SELECT account_id, count(*) AS n FROM shipments WHERE account_id = ? GROUP BY 1", ["A2"])
          account_id  n
        0         A2  2
        """
        return self.store.query(sql, params)


# Shadows the builtin in this module only: kam.open is the name analysts type.
def open(path: str | Path | None = None) -> Workspace:
    """The workspace store, opened read-only: the folder ``path`` (or its kam.duckdb) when given, else
    $KAM_WORKSPACE, else ``data/workspace`` of the project around the current folder (found from
    ``notebooks/`` or any folder inside the project), else of the project this package is installed from.
    WorkspaceError saying where it looked when there is none.

    >>> ws = kam.open()
    >>> ws.account_ids()
    ['A1', 'A2']
    """
    return Workspace(find_workspace(path))
