"""What a report knows about one account: its row and its rows of every table, loaded from the store."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class AccountData:
    """One account's data. A table the workspace does not hold at all is ``None`` ("no data");
    a table it holds but with no rows for this account is an empty DataFrame.

    Columns are those of :mod:`kam_helpers.schema`; timestamps are ``datetime64``, dates ``datetime64``
    at midnight, booleans ``bool`` (nullable), money and weights ``float64``.
    """

    account: dict  # the accounts row: account_id, name, industry, tier, region, owner, contract_*, currency, ...
    shipments: pd.DataFrame | None
    invoices: pd.DataFrame | None = None
    invoice_lines: pd.DataFrame | None = None  # only lines of this account's invoices
    rate_cards: pd.DataFrame | None = None
    cases: pd.DataFrame | None = None
    opportunities: pd.DataFrame | None = None
    targets: pd.DataFrame | None = None
    as_of: pd.Timestamp | None = None  # the moment the data describes (latest event in the workspace)
    extras: dict = field(default_factory=dict)

    @property
    def account_id(self) -> str:
        return str(self.account["account_id"])

    @property
    def name(self) -> str:
        return str(self.account.get("name") or self.account_id)

    def has(self, table: str) -> bool:
        """True when the workspace holds ``table`` at all (even with no rows for this account)."""
        return getattr(self, table) is not None
