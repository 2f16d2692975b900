"""The book of business (a Voilà app, ``notebooks/portfolio.ipynb``): every account of a quarter with its
verdict, health score, revenue, growth, OTD, margin and days to renewal, at risk first, each linked to its
explorer and QBR page.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import ipywidgets as W
import pandas as pd

from kam_helpers.analyses import health as health_mod
from kam_helpers.analyses.assessment import assess, days_to_renewal
from kam_helpers.apps.page import PageNotice, app_url, in_voila, notice_html, page_params
from kam_helpers.apps.panels import BAND_LABELS, health_chip, scoped_view
from kam_helpers.core.errors import DataValidationError, NoDataError, ParameterError
from kam_helpers.core.formatting import fmt_count, fmt_growth, fmt_money, fmt_pct, fmt_quarter
from kam_helpers.core.quarters import Quarter
from kam_helpers.data import params
from kam_helpers.data.store import Workspace
from kam_helpers.metrics import scorecard
from kam_helpers.metrics.scorecard import Scorecard


@dataclass(frozen=True)
class BookRow:
    """One account in the book of business."""

    account_id: str
    name: str
    currency: str | None
    revenue: float | None
    growth_pct: float | None  # revenue vs the same quarter last year (vs prior quarter when no last year)
    otd_pct: float | None
    otd_rag: str | None
    gross_margin_pct: float | None
    health: str
    concerns: tuple[str, ...]
    days_to_renewal: int | None
    health_score: float | None = None  # health.health_score (0–100), None when it has no data
    health_band: str | None = None  # green / amber / red


HEALTH_ORDER = {"at_risk": 0, "watch": 1, "healthy": 2}


BOOK_SORT_CHOICES = (
    ("At risk first", "risk"),
    ("Health score, lowest first", "health_score"),
    ("Revenue, largest first", "revenue"),
    ("Renewal, soonest first", "renewal"),
)


def book_row(sc: Scorecard, health: health_mod.HealthScore | None = None) -> BookRow:
    """Scorecard (, its HealthScore) → its BookRow (assessment from assessment.assess, renewal from the
    contract end, health score and band from ``health``)."""
    rev = sc.kpis.get("revenue")
    growth = None if rev is None else (rev.growth_yoy_pct if rev.growth_yoy_pct is not None else rev.growth_qoq_pct)
    a = assess(sc, health)
    otd = sc.kpis.get("otd_pct")
    return BookRow(
        sc.account_id,
        sc.name,
        sc.account.get("currency"),
        sc.value("revenue"),
        growth,
        sc.value("otd_pct"),
        otd.rag if otd else None,
        sc.value("gross_margin_pct"),
        a.overall,
        tuple(a.concerns),
        days_to_renewal(sc),
        None if health is None else float(health.score),
        None if health is None else health.band,
    )


def rank_book(rows: Iterable[BookRow]) -> list[BookRow]:
    """Rows → at-risk accounts first, then watch, then healthy; by revenue (largest first) within each."""
    return sorted(rows, key=lambda r: (HEALTH_ORDER.get(r.health, 1), -(r.revenue or 0.0), r.account_id))


def sort_book(rows: Iterable[BookRow], by: str = "risk") -> list[BookRow]:
    """Rows → ordered by one of BOOK_SORT_CHOICES' values: 'risk' (rank_book), 'health_score' (lowest first),
    'revenue' (largest first), 'renewal' (fewest days to renewal first; ended contracts before them). Rows
    without the value go last; ties keep the at-risk-first order. Unknown ``by`` raises ValueError."""
    if by not in {v for _, v in BOOK_SORT_CHOICES}:
        raise ValueError(f"unknown sort {by!r}")
    ranked = rank_book(rows)
    if by == "risk":
        return ranked
    value = {
        "health_score": lambda r: r.health_score,
        "revenue": lambda r: None if r.revenue is None else -r.revenue,
        "renewal": lambda r: r.days_to_renewal,
    }[by]

    def key(r: BookRow) -> tuple[bool, float]:
        v = value(r)
        missing = v is None or bool(pd.isna(v))
        return (missing, 0.0 if missing else float(v))

    return sorted(ranked, key=key)  # stable: ties keep the at-risk-first order


@lru_cache(maxsize=4)
def book_rows(workspace: str, quarter: str) -> tuple[tuple[BookRow, ...], str]:
    """(workspace folder, quarter or '') → (ranked rows of every account with data, the quarter shown).
    Accounts whose data cannot be loaded are left out (the batch and `kam validate` report them)."""
    rows: list[BookRow] = []
    with Workspace.open(workspace or None) as ws:
        params.check_quarter(ws, quarter)  # malformed, or without data: one message naming what exists
        q = Quarter.parse(quarter) if quarter else ws.last_complete_quarter()
        for account_id in ws.account_ids():
            try:
                data = ws.account_data(account_id)
                sc = scorecard(data, q)
            except (DataValidationError, NoDataError):  # rows refused under a 'block' policy, or none at all
                continue
            try:
                health = health_mod.health_score(data, q, with_history=False)
            except NoDataError:
                health = None
            rows.append(book_row(sc, health))
    return tuple(rank_book(rows)), str(q)


def book_html(rows: Iterable[BookRow], quarter: str) -> str:
    """Ranked rows → the book-of-business table, each account linked to its explorer and its QBR page."""
    body = []
    for r in rows:
        rag = f"kam-{r.otd_rag}" if r.otd_rag else "kam-none"
        renewal = (
            "–" if r.days_to_renewal is None else (f"{r.days_to_renewal:,}" if r.days_to_renewal >= 0 else "ended")
        )
        explorer = html.escape(app_url("account_explorer.ipynb", account_id=r.account_id, quarter=quarter))
        qbr = html.escape(app_url("qbr.ipynb", account_id=r.account_id, quarter=quarter))
        concerns = ", ".join(r.concerns[:3])
        if r.health_score is None or pd.isna(r.health_score):
            score = '<span class="kam-rag kam-none kam-x-book-score">–</span>'
        else:
            band = BAND_LABELS.get(r.health_band or "", ("", "kam-none"))[1]
            score = f'<span class="kam-rag {band} kam-x-book-score">{r.health_score:.0f}</span>'
        body.append(
            f'<tr class="kam-book-row" data-account="{html.escape(r.account_id)}">'
            f'<td><b>{html.escape(r.name)}</b><div class="kam-muted">{html.escape(r.account_id)}</div></td>'
            f'<td>{health_chip(r.health)}<div class="kam-muted">{html.escape(concerns)}</div></td>'
            f'<td class="num">{score}</td>'
            f'<td class="num">{fmt_money(r.revenue, r.currency)}</td><td class="num">{fmt_growth(r.growth_pct)}</td>'
            f'<td class="num"><span class="kam-rag {rag}">{fmt_pct(r.otd_pct)}</span></td>'
            f'<td class="num">{fmt_pct(r.gross_margin_pct)}</td><td class="num">{renewal}</td>'
            f'<td><a href="{explorer}">Explorer</a> · <a href="{qbr}">QBR</a></td></tr>'
        )
    head = (
        '<tr><th>Account</th><th>Health</th><th class="num">Score</th><th class="num">Revenue</th><th class="num">Growth YoY</th>'
        '<th class="num">OTD</th><th class="num">Gross margin</th><th class="num">Days to renewal</th>'
        "<th>Open</th></tr>"
    )
    return f'<table class="kam-table kam-book">{head}{"".join(body)}</table>'


def book_summary_html(rows: tuple[BookRow, ...], quarter: str) -> str:
    """Ranked rows → the page title and headline counts (accounts, at risk, revenue per currency)."""
    totals: dict[str, float] = {}
    for r in rows:
        totals[r.currency or ""] = totals.get(r.currency or "", 0.0) + (r.revenue or 0.0)
    revenue = " + ".join(fmt_money(v, c or None) for c, v in sorted(totals.items()))
    at_risk = sum(r.health == "at_risk" for r in rows)
    watch = sum(r.health == "watch" for r in rows)
    cards = [
        ("Accounts", fmt_count(len(rows)), "none"),
        ("At risk", fmt_count(at_risk), "red" if at_risk else "green"),
        ("Watch", fmt_count(watch), "amber" if watch else "green"),
        ("Revenue", revenue or "–", "none"),
    ]
    card_html = "".join(
        f'<div class="kam-card kam-{c}"><div class="kam-label">{html.escape(k)}</div>'
        f'<div class="kam-value">{v}</div></div>'
        for k, v, c in cards
    )
    return (
        f'<header class="kam-header"><div class="kam-eyebrow">Book of business · {html.escape(fmt_quarter(quarter))}'
        f'</div><h1>Accounts ranked by revenue, at risk first</h1><p class="kam-sub">Health from service, volume, '
        f"billing, cases and margin; growth against the same quarter last year.</p></header>"
        f'<div class="kam-cards">{card_html}</div>'
    )


class BookOfBusiness:
    """The book of business for one quarter as a page: headline counts and the linked table, at risk first or
    sorted by the "Sort by" dropdown (health score, revenue, renewal), re-rendered in place."""

    def __init__(self, workspace: str | Path = "", quarter: str = "") -> None:
        self.rows, self.quarter = book_rows(str(workspace or ""), quarter)
        self.summary = W.HTML(book_summary_html(self.rows, self.quarter))
        self.sort = W.Dropdown(
            options=list(BOOK_SORT_CHOICES), value="risk", description="Sort by", layout=W.Layout(width="320px")
        )
        self.table = W.HTML()
        self.table.add_class("kam-x-book-table")
        controls = W.HBox([self.sort])
        controls.add_class("kam-x-controls")
        self.view = W.VBox([self.summary, controls, self.table])
        self.view.add_class("kam-x-book")
        self._render()
        self.sort.observe(lambda _: self._render(), names="value")

    def visible_rows(self) -> list[BookRow]:
        """The rows in the order the dropdown asks (only one of BOOK_SORT_CHOICES' values is accepted)."""
        return sort_book(self.rows, str(self.sort.value))

    def _render(self) -> None:
        self.table.value = book_html(self.visible_rows(), self.quarter)

    @classmethod
    def for_page(cls, quarter: str = "", workspace: str = "") -> BookOfBusiness | PageNotice:
        """As a Voilà page: the default quarter's rows are computed before the request (preheated kernel),
        then the URL's ?quarter= picks the quarter; a quarter without data shows a notice saying which have."""
        params = page_params(warm=lambda: book_rows(str(workspace or ""), quarter), quarter=quarter)
        try:
            return cls(workspace, params["quarter"])
        except ParameterError as exc:
            if not in_voila():
                raise
            return PageNotice(notice_html(exc, quarter=params["quarter"]))

    @functools.cached_property
    def page(self) -> W.Box:
        """The book of business as displayed: its view with the workspace's stylesheet, scoped (JupyterLab loads none)."""
        return scoped_view(self.view)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.page._repr_mimebundle_(**kwargs)
