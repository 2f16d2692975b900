"""The domain rules (kam_helpers.data.rules): the pandas form the KPIs use and the SQL form the store's queries
use agree, account by account, on the sample book."""

from __future__ import annotations

import pandas as pd
import pytest

from kam_helpers.data import rules
from kam_helpers.data.store import Workspace

LAG = rules.DEFAULT_BILLING_LAG_DAYS


def _sql_per_shipment(ws: Workspace) -> pd.DataFrame:
    """Every shipment of the store with the rules evaluated in DuckDB."""
    return ws.query(
        f"SELECT account_id, shipment_id, {rules.active_sql('s')} AS active, {rules.ship_day_sql('s')} AS ship_day, "
        f"{rules.late_sql('s')} AS late, {rules.in_full_sql('s')} AS in_full, "
        f"{rules.billing_due_day_sql(LAG, 's')} AS billing_due_day FROM shipments s ORDER BY account_id, shipment_id"
    )


def _pandas_per_shipment(shipments: pd.DataFrame) -> pd.DataFrame:
    """One account's shipments with the rules evaluated in pandas."""
    return pd.DataFrame(
        {
            "shipment_id": shipments["shipment_id"].astype(str).to_numpy(),
            "active": rules.is_active(shipments).to_numpy(),
            "ship_day": rules.ship_date(shipments).dt.normalize().to_numpy(),
            "late": rules.late(shipments).to_numpy(),
            "in_full": rules.in_full(shipments).to_numpy(),
            "billing_due_day": rules.billing_due_day(shipments, LAG).to_numpy(),
        }
    ).sort_values("shipment_id", ignore_index=True)


def test_pandas_and_sql_rules_agree_on_every_account_of_the_sample_book(book) -> None:
    with Workspace.open(book.workspace) as ws:
        sql = _sql_per_shipment(ws)
        accounts = ws.account_ids()
        data = {a: ws.account_data(a).shipments for a in accounts}
    assert len(accounts) >= 10 and (~sql["active"]).any() and sql["late"].any() and (~sql["in_full"]).any()
    for account in accounts:
        mine = sql[sql["account_id"] == account].drop(columns="account_id").reset_index(drop=True)
        mine = mine.assign(
            shipment_id=mine["shipment_id"].astype(str),
            ship_day=pd.to_datetime(mine["ship_day"]).astype("datetime64[ns]"),
            billing_due_day=pd.to_datetime(mine["billing_due_day"]).astype("datetime64[ns]"),
        )
        theirs = _pandas_per_shipment(data[account])
        theirs = theirs.assign(
            ship_day=theirs["ship_day"].astype("datetime64[ns]"),
            billing_due_day=theirs["billing_due_day"].astype("datetime64[ns]"),
        )
        active = theirs["active"]
        assert int(active.sum()) == int(mine["active"].sum()), account
        assert (theirs["late"] & active).sum() == (mine["late"] & mine["active"]).sum(), account
        assert (theirs["in_full"] & active).sum() == (mine["in_full"] & mine["active"]).sum(), account
        pd.testing.assert_frame_equal(theirs, mine, check_dtype=False, obj=account)


@pytest.mark.parametrize(
    "status, actual, promised, short, damaged, active, late, in_full",
    [
        ("delivered", "2026-07-04 23:00", "2026-07-04 08:00", False, False, True, False, True),  # same day: on time
        ("delivered", "2026-07-05 00:30", "2026-07-04 23:00", None, True, True, True, False),  # next day: late
        (" Cancelled ", None, "2026-07-04 08:00", True, None, False, False, False),
        ("in_transit", None, None, None, None, True, False, True),
    ],
)
def test_rules_read_one_shipment_the_same_in_both_forms(
    status: str,
    actual: str | None,
    promised: str | None,
    short: bool | None,
    damaged: bool | None,
    active: bool,
    late: bool,
    in_full: bool,
) -> None:
    import duckdb

    frame = pd.DataFrame(
        {
            "status": [status],
            "pickup_actual": pd.to_datetime([None]),
            "pickup_planned": pd.to_datetime(["2026-07-01 08:00"]),
            "delivery_actual": pd.to_datetime([actual]),
            "delivery_promised": pd.to_datetime([promised]),
            "short": pd.array([short], dtype="boolean"),
            "damaged": pd.array([damaged], dtype="boolean"),
        }
    )
    assert (rules.is_active(frame)[0], rules.late(frame)[0], rules.in_full(frame)[0]) == (active, late, in_full)
    con = duckdb.connect()
    con.register("shipments", frame)
    row = con.execute(
        f"SELECT {rules.active_sql()}, {rules.late_sql()}, {rules.in_full_sql()}, {rules.ship_day_sql()} FROM shipments"
    ).fetchone()
    assert row is not None and row[:3] == (active, late, in_full)
    assert pd.Timestamp(row[3]) == rules.ship_date(frame).dt.normalize()[0]
