"""Invoice audit: re-rate every shipment with the rate card valid on its date and compare with what was invoiced.

``invoice_audit(data, quarter=None, billing_lag_days=14)`` → :class:`Audit` whose ``exceptions`` frame has one
row per finding (EXCEPTION_COLUMNS):

* ``duplicate_line``: an invoice line with the same shipment, charge type and amount as an earlier line
  (by invoice, then line number); the whole amount is over-billed. Duplicates are set aside before comparing;
* ``overbilled`` / ``underbilled``: a linehaul or fuel charge above / below the rate card (rating.expected_charges)
  by more than ``tolerance``; one row per shipment and charge type;
* ``missing_fuel``: no fuel billed where the rate card has a fuel surcharge;
* ``unauthorised_accessorial``: an accessorial charge: the rate card (the data model) agrees none;
* ``unbilled``: delivered on or before (as_of − billing_lag_days) with no invoice line at all;
* ``unrated``: invoiced, but no rate card row applies (nothing to check it against; amount = billed);
* ``sla_credit``: a credit owed for a missed SLA, only where config/sla_credits.yml states the
  contract's rule (the data model has none): credit_pct_per_missed_point × points below (target − tolerance)
  × the quarter's revenue / 100, capped at cap_pct % of revenue. Negative amount = owed to the client.

``amount`` is billed − expected (positive = the client was over-charged). A quarter selects the shipments whose
ship date falls in it (metrics.shipments_in); without one, every shipment. The audit takes the account's
prepared frames (metrics.prepare) when it is given them, so the KPIs its credits read are not computed again. ``to_excel(audit, path)`` writes the
exceptions and totals for the billing team.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from kam_helpers import metrics
from kam_helpers.core import paths
from kam_helpers.core.errors import ConfigError, NoDataError
from kam_helpers.core.quarters import Quarter
from kam_helpers.data import columns as col
from kam_helpers.data import rules as domain_rules
from kam_helpers.data.account_data import AccountData
from kam_helpers.metrics.kpis import kpis as kpis_of
from kam_helpers.metrics.rating import expected_charges

CONFIG_FILE = paths.CONFIG_DIR / "sla_credits.yml"

KINDS = (
    "overbilled",
    "underbilled",
    "missing_fuel",
    "unauthorised_accessorial",
    "duplicate_line",
    "unbilled",
    "unrated",
    "sla_credit",
)
BILLING_KINDS = ("overbilled", "underbilled", "missing_fuel", "unauthorised_accessorial")
EXCEPTION_COLUMNS = {
    "kind": "str", "account_id": "str", "shipment_id": "str", "invoice_id": "str", "line_no": "Int64",
    "charge_type": "str", "ship_date": "datetime64[ns]", "billed": "float64", "expected": "float64",
    "amount": "float64", "detail": "str",
}  # fmt: skip
_CHARGES = ("linehaul", "fuel")


@dataclass(frozen=True)
class Audit:
    """The audit of one account: ``exceptions`` (EXCEPTION_COLUMNS), totals by kind and by charge type, and what
    was checked."""

    account_id: str
    quarter: Quarter | None
    exceptions: pd.DataFrame
    by_kind: pd.DataFrame  # kind, count, amount
    by_charge_type: pd.DataFrame  # charge_type, count, amount
    shipments_checked: int
    notes: list[str]

    @property
    def net_amount(self) -> float:
        """Σ amount: positive = the client was over-charged on balance."""
        return float(self.exceptions["amount"].sum())


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in EXCEPTION_COLUMNS.items()})


def _frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Partial exception rows → every EXCEPTION_COLUMNS column, typed."""
    if rows.empty:
        return _empty()
    return rows.reindex(columns=list(EXCEPTION_COLUMNS)).astype(EXCEPTION_COLUMNS)


# ----------------------------------------------------------------------------------------------- rules


def duplicate_lines(lines: pd.DataFrame) -> pd.Series:
    """invoice_lines → bool per line: True when an earlier line (by invoice_id, line_no) has the same
    shipment_id, charge_type and amount. Lines without a shipment are never duplicates."""
    order = lines.sort_values(["invoice_id", "line_no"], kind="stable")
    keyed = order["shipment_id"].notna()
    dup = order[keyed].duplicated(subset=["shipment_id", "charge_type", "amount"], keep="first")
    return dup.reindex(lines.index, fill_value=False)


def billed_by_charge(lines: pd.DataFrame) -> pd.DataFrame:
    """invoice_lines (duplicates removed) → shipment_id, charge_type, billed (Σ amount), invoice_id and line_no
    (of the first line), one row per shipment and charge type."""
    kept = lines[lines["shipment_id"].notna()].sort_values(["invoice_id", "line_no"], kind="stable")
    grouped = kept.groupby(["shipment_id", "charge_type"], sort=False)
    return grouped.agg(
        billed=("amount", "sum"), invoice_id=("invoice_id", "first"), line_no=("line_no", "first")
    ).reset_index()


def _charges(shipments: pd.DataFrame, rate_cards: pd.DataFrame | None) -> pd.DataFrame:
    """Shipments → their rating (rate_id, linehaul, fuel, expected): the columns they carry when already rated
    (a prepared account's), else rated now. Rating is row by row, so a subset's rating is the subset of its."""
    if set(metrics.RATING_COLUMNS) <= set(shipments.columns):
        return shipments[list(metrics.RATING_COLUMNS)]
    return expected_charges(shipments, rate_cards)


def compare_charges(
    shipments: pd.DataFrame, rate_cards: pd.DataFrame | None, billed: pd.DataFrame, tolerance: float = 0.01
) -> pd.DataFrame:
    """shipments (with ship_date), rate_cards, billed_by_charge → exception rows of kinds overbilled,
    underbilled, missing_fuel, unauthorised_accessorial and unrated for shipments that have invoice lines."""
    invoiced = shipments[col.isin(shipments["shipment_id"], billed["shipment_id"])]
    charges = _charges(invoiced, rate_cards)
    base = pd.DataFrame(
        {
            "shipment_id": invoiced["shipment_id"].astype(str).to_numpy(),
            "ship_date": invoiced["ship_date"].to_numpy(),
            "rate_id": charges["rate_id"].to_numpy(),
            "linehaul": charges["linehaul"].to_numpy(),
            "fuel": charges["fuel"].to_numpy(),
        }
    )
    billed = billed.assign(shipment_id=billed["shipment_id"].astype(str))
    out = []
    unrated = base[base["rate_id"].isna() | base["linehaul"].isna()]
    if not unrated.empty:
        total = billed.groupby("shipment_id", as_index=False).agg(
            billed=("billed", "sum"), invoice_id=("invoice_id", "first"), line_no=("line_no", "first")
        )
        u = unrated[["shipment_id", "ship_date"]].merge(total, on="shipment_id")
        out.append(
            u.assign(
                kind="unrated",
                charge_type="all",
                expected=np.nan,
                amount=u["billed"],
                detail="no rate card row applies to this shipment",
            )
        )
    rated = base[base["rate_id"].notna() & base["linehaul"].notna()]
    for charge in _CHARGES:
        exp = rated[["shipment_id", "ship_date", "rate_id", charge]].rename(columns={charge: "expected"})
        got = billed[billed["charge_type"] == charge].drop(columns="charge_type")
        both = exp.merge(got, on="shipment_id", how="left")
        both["billed"] = both["billed"].fillna(0.0)
        diff = (both["billed"] - both["expected"]).round(2)
        off = diff.abs() > tolerance + 1e-9
        rows = both[off].assign(amount=diff[off], charge_type=charge)
        missing = (charge == "fuel") & (rows["billed"] == 0) & (rows["expected"] > 0)
        rows["kind"] = np.where(missing, "missing_fuel", np.where(rows["amount"] > 0, "overbilled", "underbilled"))
        rows["detail"] = "rate card " + rows["rate_id"].astype(str)
        out.append(rows)
    acc = billed[(billed["charge_type"] == "accessorial") & (billed["billed"].abs() > tolerance)]
    acc = acc.merge(base[["shipment_id", "ship_date"]], on="shipment_id")
    out.append(
        acc.assign(
            kind="unauthorised_accessorial",
            expected=0.0,
            amount=acc["billed"],
            detail="accessorial charge not on the rate card",
        )
    )
    out = [o for o in out if not o.empty]
    return _frame(pd.concat(out, ignore_index=True)) if out else _empty()


def unbilled(
    shipments: pd.DataFrame,
    lines: pd.DataFrame,
    as_of: pd.Timestamp,
    billing_lag_days: int = 14,
    rate_cards: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """shipments (with ship_date), invoice_lines, as-of → 'unbilled' rows: delivered on or before
    as_of − billing_lag_days (by day), not cancelled, and no invoice line points at them; expected = the rate
    card value (NaN when unrated), amount = −expected (revenue not billed)."""
    due_day = domain_rules.billing_due_day(shipments, billing_lag_days)
    due = shipments[due_day.notna() & (due_day <= pd.Timestamp(as_of).normalize())]
    due = due[~col.isin(due["shipment_id"], col.ids(lines, "shipment_id"))]
    if due.empty:
        return _empty()
    expected = _charges(due, rate_cards)["expected"].to_numpy()
    return _frame(
        pd.DataFrame(
            {
                "kind": "unbilled",
                "shipment_id": due["shipment_id"].astype(str).to_numpy(),
                "charge_type": "all",
                "ship_date": due["ship_date"].to_numpy(),
                "billed": 0.0,
                "expected": expected,
                "amount": -expected,
                "detail": "delivered "
                + col.dates(due, "delivery_actual").dt.strftime("%Y-%m-%d").to_numpy()
                + f", no invoice line after {billing_lag_days} days",
            }
        )
    )


def sla_credits(source: AccountData | metrics.PreparedAccount, quarter: Quarter, rules: dict) -> pd.DataFrame:
    """AccountData (or its PreparedAccount), quarter, {kpi: {credit_pct_per_missed_point, cap_pct}} → 'sla_credit'
    rows for the quarter's KPIs that fall short of (target − tolerance). Empty when ``rules`` is empty: the data
    model itself holds no credit terms, so none are invented."""
    if not rules:
        return _empty()
    kpis = kpis_of(source, quarter)
    revenue = kpis["revenue"].value or 0.0
    rows = []
    for key, rule in rules.items():
        kpi = kpis.get(key)
        if kpi is None or kpi.value is None or kpi.target is None:
            continue
        short = (kpi.target - kpi.value) if kpi.higher_is_better else (kpi.value - kpi.target)
        short -= kpi.tolerance or 0.0
        if short <= 1e-9:
            continue
        pct = float(rule.get("credit_pct_per_missed_point", 0)) * short
        if rule.get("cap_pct") is not None:
            pct = min(pct, float(rule["cap_pct"]))
        credit = round(revenue * pct / 100, 2)
        rows.append(
            dict(
                kind="sla_credit",
                charge_type="credit",
                billed=np.nan,
                expected=np.nan,
                amount=-credit,
                detail=f"{kpi.label} {kpi.value:.1f} vs target {kpi.target:g} (tolerance "
                f"{kpi.tolerance or 0:g}): {short:.2f} points short × "
                f"{rule.get('credit_pct_per_missed_point')}% of {revenue:,.2f} revenue",
            )
        )
    return _frame(pd.DataFrame(rows))


# ----------------------------------------------------------------------------------------------- entry point


def _totals(exceptions: pd.DataFrame, column: str) -> pd.DataFrame:
    if exceptions.empty:
        return pd.DataFrame(
            {
                column: pd.Series([], dtype="str"),
                "count": pd.Series([], dtype="int64"),
                "amount": pd.Series([], dtype="float64"),
            }
        )
    g = exceptions.groupby(column, sort=True).agg(count=("kind", "size"), amount=("amount", lambda s: s.sum()))
    return g.reset_index().astype({column: "str", "count": "int64", "amount": "float64"})


def _rated_shipments(prep: metrics.PreparedAccount) -> pd.DataFrame | None:
    """A prepared account → its active shipments (every column) with the rating it already computed; without
    rate cards just the shipments."""
    if prep.shipments is None or prep.active is None or not prep.rated:
        return prep.shipments
    rating = prep.active[list(metrics.RATING_COLUMNS)]  # same rows, same order as prep.shipments
    return prep.shipments.assign(**{c: rating[c].to_numpy() for c in metrics.RATING_COLUMNS})


def invoice_audit(
    source: AccountData | metrics.PreparedAccount,
    quarter: Quarter | str | None = None,
    billing_lag_days: int = 14,
    *,
    tolerance: float = 0.01,
    sla_credit_rules: dict | None = None,
) -> Audit:
    """AccountData or its PreparedAccount (, quarter; default every shipment) → Audit. NoDataError without
    shipments or invoice lines (nothing to audit); without rate cards the charge comparison is skipped and
    ``notes`` says so. ``sla_credit_rules`` default: config/sla_credits.yml (empty unless a contract rule is set).
    Without credit rules nothing is prepared."""
    data = source.data if isinstance(source, metrics.PreparedAccount) else source
    if data.shipments is None or data.invoice_lines is None:
        missing = "shipments" if data.shipments is None else "invoice lines"
        raise NoDataError(f"{data.account_id}: no data — the workspace has no {missing}, so there is nothing to audit")
    q = Quarter.parse(quarter) if quarter is not None else None
    active = _rated_shipments(source) if isinstance(source, metrics.PreparedAccount) else None
    if active is None:
        active = metrics.active_shipments(data.shipments)
    ships = metrics.in_period(active, "ship_date", q) if q else active
    lines = data.invoice_lines
    notes: list[str] = []
    dup = duplicate_lines(lines)
    dups = lines[dup & col.isin(lines["shipment_id"].astype("string").fillna(""), ships["shipment_id"])]
    dup_rows = dups.merge(ships[["shipment_id", "ship_date"]], on="shipment_id", how="left").assign(
        kind="duplicate_line",
        billed=lambda f: f["amount"],
        expected=0.0,
        detail="same shipment, charge type and amount as an earlier line",
    )
    parts = [_frame(dup_rows)]
    billed = billed_by_charge(lines[~dup])
    if data.rate_cards is None:
        notes.append("no rate cards in the workspace: charges were not compared with a rate card")
    else:
        parts.append(compare_charges(ships, data.rate_cards, billed, tolerance))
    as_of = data.as_of if data.as_of is not None else col.dates(data.shipments, "delivery_actual").max()
    if pd.notna(as_of):
        parts.append(unbilled(ships, lines, as_of, billing_lag_days, data.rate_cards))
    if q is not None:
        rules = sla_credit_rules if sla_credit_rules is not None else load_credit_rules()
        if not rules:
            notes.append("no SLA credit rule configured (config/sla_credits.yml): no credits computed")
        parts.append(sla_credits(source, q, rules))
    parts = [p for p in parts if not p.empty]
    exceptions = pd.concat(parts, ignore_index=True) if parts else _empty()
    exceptions = exceptions.assign(account_id=data.account_id)
    exceptions["kind"] = pd.Categorical(exceptions["kind"], categories=KINDS)
    exceptions = exceptions.sort_values(["kind", "ship_date", "shipment_id", "charge_type"], kind="stable")
    exceptions = _frame(exceptions.assign(kind=exceptions["kind"].astype(str)).reset_index(drop=True))
    return Audit(
        account_id=data.account_id,
        quarter=q,
        exceptions=exceptions,
        by_kind=_totals(exceptions, "kind"),
        by_charge_type=_totals(exceptions, "charge_type"),
        shipments_checked=len(ships),
        notes=notes,
    )


def load_credit_rules(path: str | Path | None = None) -> dict:
    """config/sla_credits.yml (or ``path``) → {kpi: {credit_pct_per_missed_point, cap_pct}} (empty when no
    contract rule is written there). ConfigError naming the file when it is unreadable or a key is no KPI."""
    source = Path(path) if path else CONFIG_FILE
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{source}: not a readable SLA-credit configuration ({exc})") from exc
    rules = raw.get("sla_credits") or {}
    if not isinstance(rules, dict):
        raise ConfigError(f"{source}: sla_credits: expected a mapping of KPI keys to credit rules")
    for key, rule in rules.items():
        if key not in metrics.KPI_SPECS or not isinstance(rule, dict):
            raise ConfigError(f"{source}: sla_credits.{key}: expected a KPI key with a mapping of credit terms")
    return dict(rules)


def to_excel(audit: Audit, path: str | Path) -> Path:
    """Audit → an .xlsx for the billing team (sheets Summary and Exceptions), written to a temporary name and
    renamed into place. Written through :class:`kam_helpers.core.safe_output.ExcelBook`: text is stored as text,
    a value starting with '=' never becomes a formula."""
    import os
    import tempfile

    from kam_helpers.core.safe_output import ExcelBook

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".audit-", suffix=".xlsx", dir=path.parent)
    os.close(fd)
    try:
        book = ExcelBook(tmp)
        period = str(audit.quarter) if audit.quarter else "all shipments"
        head = [f"Invoice audit of {audit.account_id}, {period}", f"{audit.shipments_checked} shipments checked"]
        head += list(audit.notes)
        summary = book.add_sheet("Summary")
        for i, line in enumerate(head):
            book.write(summary, i, 0, line)
        book.write_frame(summary, audit.by_kind, startrow=len(head) + 1)
        book.write_frame(summary, audit.by_charge_type, startrow=len(head) + len(audit.by_kind) + 3)
        sheet = book.add_sheet("Exceptions")
        book.write_frame(sheet, audit.exceptions.assign(ship_date=audit.exceptions["ship_date"].dt.date))
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, max(len(audit.exceptions), 1), len(EXCEPTION_COLUMNS) - 1)
        book.close()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
