"""Whitespace and growth: what an account does not buy but comparable accounts do, its pipeline, and where its
growth came from.

``whitespace(workspace, account_id, quarter, min_peers=5)`` → :class:`Whitespace`:

* ``gaps``: modes, lanes and services (won opportunities: warehousing, value-added services, ...) the account did
  not buy in the last four quarters that comparable accounts did. Comparable = every other account of the book
  with shipments in those quarters and the same currency, and sharing ``peer_by`` (an accounts column such as 'industry').
  **Anonymity**: a gap is only shown when at least ``min_peers`` peers buy the item, and it says only
  "k of N comparable accounts" and the mean annual spend of those k, rounded to two significant figures; the mean
  is left out (None) when one buyer holds more than half of the buyers' spend (it would reveal that account).
  A peer group smaller than ``min_peers`` suppresses every gap and ``notes`` says so. No peer id or name is
  ever returned — the frames hold only aggregates (a test checks it);
* ``pipeline_by_stage``: the account's opportunities per stage: deals, amount, weighted (amount × probability);
* ``growth_by_source``: revenue of the last four quarters vs the four before, split into new lanes, lost lanes,
  volume on continuing lanes (shipment change × old revenue per shipment) and price/mix on continuing lanes
  (the rest), each with its share of the change in %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kam_helpers import metrics
from kam_helpers.core.errors import NoDataError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data import columns as col
from kam_helpers.data.account_data import AccountData

GAP_COLUMNS = {
    "dimension": "str",
    "item": "str",
    "peers_buying": "int64",
    "peers": "int64",
    "mean_annual_spend": "float64",
    "text": "str",
}
STAGE_ORDER = ("prospecting", "qualification", "proposal", "negotiation", "won", "lost")


@dataclass(frozen=True)
class Whitespace:
    """Whitespace of one account. ``gaps`` (GAP_COLUMNS) hold anonymous peer aggregates only."""

    account_id: str
    quarter: Quarter
    peers: int  # size of the comparable group (a count, never who)
    gaps: pd.DataFrame
    pipeline_by_stage: pd.DataFrame  # stage, deals, amount, weighted
    growth_by_source: pd.DataFrame  # source, revenue_change, share_pct
    notes: list[str] = field(default_factory=list)


def _round_sig(x: float, digits: int = 2) -> float:
    """12345.6 → 12000.0 (two significant figures)."""
    if x == 0 or math.isnan(x):
        return x
    return round(x, -int(math.floor(math.log10(abs(x)))) + digits - 1)


def purchases(workspace: Any, quarter: Quarter) -> pd.DataFrame:
    """Workspace, quarter → account_id, dimension ('mode', 'lane', 'service'), item, annual_spend: what each
    account bought in the four quarters ending with ``quarter`` (not-cancelled shipments by mode and lane, from
    the book's activity summary, :mod:`kam_helpers.data.activity`; won opportunities by service, at their annual
    amount)."""
    quarters = [str(quarter.shift(-i)) for i in range(4)]
    parts = []
    if "shipments" in workspace.tables:
        parts.append(
            workspace.query(
                "SELECT account_id, 'mode' AS dimension, mode AS item, sum(revenue) AS annual_spend "
                f"FROM {workspace.activity} WHERE quarter IN (?, ?, ?, ?) GROUP BY account_id, mode "
                f"UNION ALL SELECT account_id, 'lane', origin || '{metrics.ARROW}' || destination, sum(revenue) "
                f"FROM {workspace.activity} WHERE quarter IN (?, ?, ?, ?) GROUP BY account_id, origin, destination",
                quarters + quarters,
            )
        )
    if "opportunities" in workspace.tables:
        parts.append(
            workspace.query(
                "SELECT account_id, 'service' AS dimension, service AS item, sum(amount) AS annual_spend "
                "FROM opportunities WHERE lower(stage) = 'won' GROUP BY account_id, service"
            )
        )
    if not parts:
        return pd.DataFrame({"account_id": [], "dimension": [], "item": [], "annual_spend": []})
    return pd.concat(parts, ignore_index=True)


def peer_ids(workspace: Any, account_id: str, quarter: Quarter, peer_by: str | None = None) -> list[str]:
    """The comparable accounts (internal use only: never shown): other accounts with shipments in the four
    quarters to ``quarter`` in the account's currency (spend is compared in money), sharing ``peer_by`` with
    the account when given."""
    active = set()
    for q in (quarter.shift(-i) for i in range(4)):
        active |= set(workspace.active_accounts(q))
    accounts = workspace.accounts()
    for column in ["currency", peer_by] if peer_by else ["currency"]:
        if column not in accounts:
            continue
        mine = accounts.loc[accounts["account_id"] == account_id, column]
        value = mine.iloc[0] if len(mine) else None
        accounts = accounts[accounts[column].isna()] if pd.isna(value) else accounts[accounts[column] == value]
    return sorted(a for a in accounts["account_id"] if a != account_id and a in active)


def peer_gaps(
    bought: pd.DataFrame, account_id: str, peers: list[str], min_peers: int = 5, dominance: float = 0.5
) -> pd.DataFrame:
    """purchases, account, peer ids → GAP_COLUMNS: items the account did not buy that ≥ min_peers peers did,
    most buyers first. mean_annual_spend is the buyers' mean rounded to 2 significant figures, NaN when the
    largest buyer holds more than ``dominance`` of their spend. Only counts and means leave this function."""
    if len(peers) < min_peers:
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in GAP_COLUMNS.items()})
    mine = bought[bought["account_id"] == account_id]
    owned = set(zip(mine["dimension"], mine["item"], strict=False))
    theirs = bought[bought["account_id"].isin(peers) & (bought["annual_spend"].notna())]
    # per item: its buyers (k), their total spend and the largest buyer's
    spend = theirs.groupby(["dimension", "item", "account_id"], sort=True)["annual_spend"].sum()
    items = spend.groupby(level=["dimension", "item"], sort=True).agg(["size", "sum", "max"])
    rows = []
    for (dimension, item), k, total, top in zip(
        items.index, items["size"].tolist(), items["sum"].tolist(), items["max"].tolist(), strict=True
    ):
        if (dimension, item) in owned or k < min_peers:
            continue
        mean = float("nan") if total <= 0 or top > dominance * total else _round_sig(total / k)
        money = "" if math.isnan(mean) else f"; their mean annual spend on it is about {mean:,.0f}"
        rows.append(
            dict(
                dimension=dimension,
                item=item,
                peers_buying=k,
                peers=len(peers),
                mean_annual_spend=mean,
                text=f"{k} of {len(peers)} comparable accounts buy {item} ({dimension}){money}",
            )
        )
    frame = pd.DataFrame(rows, columns=list(GAP_COLUMNS))
    frame = frame.sort_values(["peers_buying", "dimension", "item"], ascending=[False, True, True], kind="stable")
    return frame.astype(GAP_COLUMNS).reset_index(drop=True)


def pipeline_by_stage(opportunities: pd.DataFrame | None) -> pd.DataFrame:
    """opportunities → stage, deals, amount, weighted (Σ amount × probability) in funnel order (stages with
    deals only)."""
    columns = {"stage": "str", "deals": "int64", "amount": "float64", "weighted": "float64"}
    if opportunities is None or opportunities.empty:
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in columns.items()})
    o = pd.DataFrame(
        {
            "stage": col.words(opportunities, "stage"),
            "amount": col.numbers(opportunities, "amount"),
            "probability": col.numbers(opportunities, "probability"),
        }
    )
    g = (
        o.assign(weighted=o["amount"] * o["probability"])
        .groupby("stage")
        .agg(deals=("amount", "size"), amount=("amount", "sum"), weighted=("weighted", "sum"))
        .reset_index()
    )
    order = {s: i for i, s in enumerate(STAGE_ORDER)}
    g = g.sort_values("stage", key=lambda s: s.map(lambda x: order.get(x, len(order))), kind="stable")
    return g[list(columns)].astype(columns).reset_index(drop=True)


def growth_by_source(shipments: pd.DataFrame, quarter: Quarter) -> pd.DataFrame:
    """shipments, quarter → source ('new lanes', 'lost lanes', 'volume on continuing lanes', 'price and mix on
    continuing lanes'), revenue_change, share_pct (of the total change; NaN when the total is 0). A lane is
    lane × mode. Example: lane A 10 shipments for 1000 → 12 for 1320: volume +200 (2 × 100), price +120.
    Shipments already active (with ship_date, as a PreparedAccount holds them) are taken as they are."""
    active = shipments if "ship_date" in shipments.columns else metrics.active_shipments(shipments)
    now = metrics.in_period(
        active, "ship_date", metrics.Span(pd.Timestamp(quarter.shift(-3).start), pd.Timestamp(quarter.shift(1).start))
    )
    before = metrics.in_period(
        active, "ship_date", metrics.Span(pd.Timestamp(quarter.shift(-7).start), pd.Timestamp(quarter.shift(-3).start))
    )

    def per_lane(frame: pd.DataFrame) -> pd.DataFrame:
        key = metrics.lanes(frame) + " · " + col.labels(frame, "mode")
        return (
            pd.DataFrame({"key": key.to_numpy(), "revenue": col.numbers(frame, "revenue").fillna(0).to_numpy()})
            .groupby("key")
            .agg(n=("revenue", "size"), revenue=("revenue", "sum"))
        )

    a, b = per_lane(before), per_lane(now)
    both = a.add_suffix("_0").join(b.add_suffix("_1"), how="outer").fillna(0.0)
    cont = both[(both["n_0"] > 0) & (both["n_1"] > 0)]
    per_ship = cont["revenue_0"] / cont["n_0"]
    volume = float(((cont["n_1"] - cont["n_0"]) * per_ship).sum())
    changes = {
        "new lanes": float(both.loc[both["n_0"] == 0, "revenue_1"].sum()),
        "lost lanes": -float(both.loc[both["n_1"] == 0, "revenue_0"].sum()) + 0.0,
        "volume on continuing lanes": volume,
        "price and mix on continuing lanes": float((cont["revenue_1"] - cont["revenue_0"]).sum()) - volume,
    }
    total = sum(changes.values())
    return pd.DataFrame(
        {
            "source": list(changes),
            "revenue_change": list(changes.values()),
            "share_pct": [v / total * 100 if total else float("nan") for v in changes.values()],
        }
    )


def whitespace(
    workspace: Any,
    account_id: str,
    quarter: Quarter | str,
    min_peers: int = 5,
    peer_by: str | None = None,
    *,
    data: AccountData | metrics.PreparedAccount | None = None,
) -> Whitespace:
    """Workspace, account, quarter (, the account's data when already loaded or prepared: not read again) →
    Whitespace (see the module doc). UnknownAccountError for an unknown id."""
    q = Quarter.parse(quarter)
    active = data.shipments if isinstance(data, metrics.PreparedAccount) else None
    if isinstance(data, metrics.PreparedAccount):
        loaded: AccountData = data.data
    else:
        loaded = data if data is not None else workspace.account_data(account_id)
    peers = peer_ids(workspace, account_id, q, peer_by)
    notes = []
    if len(peers) < min_peers:
        notes.append(f"peer comparison suppressed: fewer than {min_peers} comparable accounts")
    gaps = peer_gaps(purchases(workspace, q), account_id, peers, min_peers)
    if loaded.opportunities is None:
        notes.append("no data: the workspace has no opportunities table (no pipeline, no services bought)")
    if loaded.shipments is None:
        raise NoDataError(f"{account_id}: no data — the workspace has no shipments table for whitespace")
    return Whitespace(
        account_id=account_id,
        quarter=q,
        peers=len(peers),
        gaps=gaps,
        pipeline_by_stage=pipeline_by_stage(loaded.opportunities),
        growth_by_source=growth_by_source(loaded.shipments if active is None else active, q),
        notes=notes,
    )
