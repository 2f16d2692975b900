"""What a report knows about one account: its row and its rows of every table, loaded from the store."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class AccountData:
    """One account's data. A table the workspace does not hold at all is ``None`` ("no data");
    a table it holds but with no rows for this account is an empty DataFrame.

    Columns are those of :mod:`kam_helpers.data.schema`; timestamps are ``datetime64``, dates ``datetime64``
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
    # table → source rows with problems left out of this account's data (policy ``exclude``) that touch the
    # quarter it was loaded for (every quarter's when loaded without one); rows without a usable date count
    excluded: dict[str, int] = field(default_factory=dict)
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

    def excluded_note(self) -> str:
        """'3 shipments and 1 invoice excluded: see the import's rejects file' ('' when none were)."""
        if not self.excluded:
            return ""
        nouns = {"shipments": "shipment", "invoices": "invoice", "invoice_lines": "invoice line",
                 "rate_cards": "rate card", "cases": "case", "opportunities": "opportunity", "targets": "target",
                 "accounts": "account row"}  # fmt: skip
        parts = []
        for table, n in sorted(self.excluded.items()):
            noun = nouns.get(table, f"{table} row")
            plural = "opportunities" if noun == "opportunity" else noun + "s"
            parts.append(f"{n:,} {noun if n == 1 else plural}")
        text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return f"{text} excluded (rows with problems in the source): see the import's rejects file"
