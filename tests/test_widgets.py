"""The explorer and book-of-business widgets without a browser: data in, widget state and HTML out."""

from __future__ import annotations

import base64
import io

import pandas as pd
import pytest

from kam_helpers.analyses import audit, forecast, health, renewal
from kam_helpers.apps import book as book_page
from kam_helpers.apps import downloads, drilldown, panels, views
from kam_helpers.apps import explorer as explorer_page
from kam_helpers.core import formatting
from kam_helpers.data.account_data import AccountData
from kam_helpers.data.store import Workspace


def _data() -> AccountData:
    """Three shipments (one on time, one delivered 2 days late, one in transit past its promise, damaged)
    and two cases (one open)."""
    ts = pd.Timestamp
    shipments = pd.DataFrame(
        {
            "shipment_id": ["S1", "S2", "S3"],
            "account_id": "A",
            "mode": "FTL",
            "origin": ["Berlin", "Berlin", "Oslo"],
            "destination": ["Paris", "Rome", "Lyon"],
            "carrier": ["C1", "C2", "C1"],
            "pickup_planned": [ts("2026-07-01"), ts("2026-07-02"), ts("2026-09-20")],
            "pickup_actual": [ts("2026-07-01"), ts("2026-07-02"), ts("2026-09-20")],
            "delivery_promised": [ts("2026-07-03"), ts("2026-07-03"), ts("2026-09-25")],
            "delivery_actual": [ts("2026-07-03 18:00"), ts("2026-07-05"), pd.NaT],
            "revenue": [100.0, 200.0, 300.0],
            "cost": [80.0, 150.0, 250.0],
            "status": ["delivered", "delivered", "in_transit"],
            "damaged": pd.array([False, False, True], dtype="boolean"),
            "short": pd.array([False] * 3, dtype="boolean"),
            "weight_kg": 1.0,
            "pallets": 1,
        }
    )
    cases = pd.DataFrame(
        {
            "case_id": ["K1", "K2"],
            "account_id": "A",
            "opened": [ts("2026-07-06"), ts("2026-07-07")],
            "closed": [pd.NaT, ts("2026-07-08")],
            "category": ["damage", "billing dispute"],
            "severity": ["high", "low"],
            "shipment_id": ["S3", None],
            "claim_amount": [50.0, None],
            "status": ["open", "closed"],
            "root_cause": None,
        }
    )
    return AccountData(
        account={"account_id": "A", "name": "Acme", "currency": "EUR"},
        shipments=shipments,
        cases=cases,
        as_of=ts("2026-09-30"),
    )


def test_exceptions_table_lists_late_damaged_and_open_cases() -> None:
    data = _data()
    before = data.shipments.copy()
    table = drilldown.exceptions_table(data)
    by_ref = table.set_index("ref")
    assert set(by_ref.index) == {"S2", "S3", "K1"}  # S1 on time, K2 closed
    assert by_ref.loc["S2", "kind"] == "Late" and by_ref.loc["S2", "days_late"] == 2
    assert by_ref.loc["S3", "kind"] == "Late and damaged" and by_ref.loc["S3", "days_late"] == 5
    assert by_ref.loc["K1", "kind"] == "Open case" and by_ref.loc["K1", "lane"] == "Oslo → Lyon"
    pd.testing.assert_frame_equal(data.shipments, before)  # input untouched


@pytest.mark.parametrize(
    ("show", "text", "expected"),
    [
        ("all", "", {"S2", "S3", "K1"}),
        ("late", "", {"S2", "S3"}),
        ("damaged", "", {"S3"}),
        ("open_cases", "", {"K1"}),
        ("all", "rome", {"S2"}),
        ("all", "C1", {"S3", "K1"}),
    ],
)
def test_filter_exceptions(show: str, text: str, expected: set[str]) -> None:
    rows = drilldown.filter_exceptions(drilldown.exceptions_table(_data()), show, text)
    assert set(rows["ref"]) == expected


def test_filter_refuses_values_no_widget_sends() -> None:
    table = drilldown.exceptions_table(_data())
    with pytest.raises(ValueError):
        drilldown.filter_exceptions(table, show="__import__('os')")
    with pytest.raises(ValueError):
        drilldown.filter_exceptions(table, sort="ref; drop")


def test_exceptions_html_escapes_values() -> None:
    table = drilldown.exceptions_table(_data()).assign(lane="<script>x</script>")
    out = drilldown.exceptions_html(table, "EUR")
    assert "<script>" not in out and "&lt;script&gt;" in out


def test_activity_frame_and_downloads() -> None:
    frame = downloads.activity_frame(_data(), pd.Timestamp("2026-07-01").date(), pd.Timestamp("2026-07-31").date())
    assert list(frame["shipment_id"]) == ["S1", "S2"]
    assert list(frame["on_time"]) == [True, False]
    csv = downloads.to_csv_bytes(frame).decode("utf-8-sig")
    assert csv.startswith("shipment_id,")
    xlsx = downloads.to_xlsx_bytes(frame)
    back = pd.read_excel(io.BytesIO(xlsx))
    assert list(back["shipment_id"]) == ["S1", "S2"]
    link = downloads.download_link(b"a,b\n", "x.csv", "text/csv", "Download CSV")
    assert 'download="x.csv"' in link and 'href="data:text/csv;base64,' in link


def test_explorer_switches_account_and_redraws(book) -> None:
    explorer = explorer_page.AccountExplorer(book.workspace)
    assert explorer.account.value == "ACC-001" and explorer.quarter.value == str(book.quarter)
    cards, chart = explorer.cards.value, explorer.charts["volume_revenue_trend"].outputs
    assert explorer_page.VEGALITE_MIME in chart[0]["data"]
    explorer.account.value = "ACC-002"
    assert "Brennvik" in explorer.header.value and "At risk" in explorer.header.value
    assert explorer.cards.value != cards
    assert explorer.charts["volume_revenue_trend"].outputs != chart
    spec = explorer.charts["otd_vs_sla"].outputs[0]["data"][explorer_page.VEGALITE_MIME]
    assert spec["usermeta"]["embedOptions"]["renderer"] == "svg"
    assert "Open case" in explorer.table.value or "Late" in explorer.table.value
    explorer.show.value = "open_cases"
    assert "Late</span>" not in explorer.table.value
    assert "Download Excel" in explorer.prepare_download("xlsx")


def test_explorer_refuses_unknown_account(book) -> None:
    explorer = explorer_page.AccountExplorer(book.workspace)
    explorer.select("<b>ACC-999</b>", str(book.quarter))
    assert explorer.account.value == "ACC-001"
    assert "&lt;b&gt;ACC-999" in explorer.status.value


@pytest.mark.slow
def test_book_ranks_at_risk_first_and_links(book) -> None:
    page = book_page.BookOfBusiness(book.workspace)
    health = [r.health for r in page.rows]
    assert health == sorted(health, key=book_page.HEALTH_ORDER.__getitem__)
    ids = [r.account_id for r in page.rows]
    assert ids.index("ACC-002") < ids.index("ACC-001")
    assert "/voila/render/qbr.ipynb?account_id=ACC-002&amp;quarter=2026Q3" in page.table.value


def test_rank_book_orders_by_health_then_revenue() -> None:
    row = lambda i, h, r: book_page.BookRow(i, i, "EUR", r, None, None, None, None, h, (), None)  # noqa: E731
    ranked = book_page.rank_book([row("a", "healthy", 9.0), row("b", "at_risk", 1.0), row("c", "at_risk", 5.0)])
    assert [r.account_id for r in ranked] == ["c", "b", "a"]


# ------------------------------------------------------------------------------ account intelligence panels


@pytest.fixture(scope="module")
def acc002(book):
    """The explorer on ACC-002 (at risk) of the sample book, and that account's data."""
    explorer = explorer_page.AccountExplorer(book.workspace, "ACC-002", str(book.quarter))
    with Workspace.open(book.workspace) as ws:
        data = ws.account_data("ACC-002")
    return explorer, data


def test_health_panel_shows_the_analysis(book, acc002) -> None:
    explorer, data = acc002
    h = health.health_score(data, book.quarter)
    panel = explorer.health.value
    assert f'data-score="{h.score:.1f}"' in panel and f'data-band="{h.band}"' in panel
    assert f"{h.score:.0f}<span" in panel and f"kam-card kam-{h.band}" in panel
    change = h.history["change"].iloc[-1]
    assert f"{abs(change):.1f} points vs Q2 2026" in panel
    assert h.drivers and all(html_escape(d.text) in panel for d in h.drivers)
    assert all(html_escape(n) in panel for n in h.redistributed)


def html_escape(text: str) -> str:
    import html

    return html.escape(text)


def test_forecast_panel_shows_next_four_quarters_and_the_note(book, acc002) -> None:
    explorer, data = acc002
    fc = forecast.forecast(data, book.quarter)
    panel = explorer.forecast.value
    assert html_escape(fc.note) in panel and "MAPE" in panel  # accuracy beside the table, always
    assert panel.count('class="kam-x-forecast-row"') == 4
    for q in ("2026Q4", "2027Q1", "2027Q2", "2027Q3"):
        assert f'data-quarter="{q}"' in panel
    nxt = fc.next_quarter("shipments")
    assert f"{nxt['lower']:,.0f}–{nxt['upper']:,.0f}" in panel


def test_audit_panel_totals_rows_and_downloads(book, acc002) -> None:
    explorer, data = acc002
    a = audit.invoice_audit(data, book.quarter)
    panel = explorer.audit.value
    assert len(a.exceptions) > 0
    assert f"<b>{len(a.exceptions)}</b> exception(s)" in panel
    for kind, count, amount in a.by_kind.itertuples(index=False):
        assert f'{panels.AUDIT_KIND_LABELS[kind]}</td><td class="num">{count:,}</td>' in panel
        assert formatting.fmt_money_exact(amount, "EUR") in panel
    assert panel.count('class="kam-x-audit-row"') == min(len(a.exceptions), panels.AUDIT_ROWS)
    csv = explorer.prepare_audit_download("csv")
    assert 'download="ACC-002-invoice-audit-2026Q3.csv"' in csv
    raw = base64.b64decode(csv.split("base64,", 1)[1].split('"', 1)[0]).decode("utf-8-sig")
    back = pd.read_csv(io.StringIO(raw))
    assert len(back) == len(a.exceptions) and back["amount"].sum() == pytest.approx(a.net_amount)
    xlsx = explorer.prepare_audit_download("xlsx")
    book_bytes = base64.b64decode(xlsx.split("base64,", 1)[1].split('"', 1)[0])
    sheets = pd.read_excel(io.BytesIO(book_bytes), sheet_name=None)
    assert set(sheets) == {"Summary", "Exceptions"} and len(sheets["Exceptions"]) == len(a.exceptions)
    with pytest.raises(ValueError):
        explorer.prepare_audit_download("exe")


def test_renewal_panel_and_what_if_slider(book, acc002) -> None:
    explorer, data = acc002
    r = renewal.renewal(data, book.quarter)
    assert f'<div class="kam-value">{r.days_to_renewal}</div>' in explorer.renewal.value
    assert (explorer.rate.min, explorer.rate.max) == (-10.0, 10.0)
    explorer.rate.value = 0.0
    base = renewal.rate_change_what_if(data, book.quarter, 0.0)
    before = explorer.what_if.value
    assert f'data-field="revenue_after"><b>{formatting.fmt_money_exact(base.revenue_before, "EUR")}</b>' in before
    explorer.rate.value = 4.5
    w = renewal.rate_change_what_if(data, book.quarter, 4.5)
    after = explorer.what_if.value
    assert after != before and 'data-change="+4.5"' in after
    assert explorer.what_if_result() == w
    for field, value in (
        ("revenue_before", w.revenue_before),
        ("revenue_after", w.revenue_after),
        ("margin_before", w.margin_before),
        ("margin_after", w.margin_after),
    ):
        assert f'data-field="{field}"' in after and formatting.fmt_money_exact(value, "EUR") in after
    assert formatting.fmt_pct(w.margin_pct_after) in after and w.margin_after > w.margin_before
    explorer.rate.value = -10.0
    assert explorer.what_if_result() == renewal.rate_change_what_if(data, book.quarter, -10.0)
    explorer.rate.value = 0.0


def test_views_are_computed_once_per_account_and_quarter(book, acc002, monkeypatch) -> None:
    """A selection's view (scorecard, charts, analyses, panels) is computed once and swapped in again when the
    KAM comes back to it."""
    explorer, _ = acc002
    calls: list[tuple[str, str]] = []
    real = views.view_steps
    monkeypatch.setattr(views, "view_steps", lambda s, a, q: calls.append((a, q)) or real(s, a, q))
    explorer.account.value = "ACC-001"
    health_001 = explorer.health.value
    explorer.account.value = "ACC-002"
    explorer.account.value = "ACC-001"
    assert explorer.health.value == health_001
    assert calls == [("ACC-001", "2026Q3")]  # ACC-002 was cached when the fixture built it
    explorer.quarter.value = "2026Q2"
    assert calls[-1] == ("ACC-001", "2026Q2") and len(calls) == 2 and "Q1 2026" in explorer.health.value
    explorer.select("ACC-002", str(book.quarter))


def test_the_header_verdict_is_the_health_analysis_verdict(book, acc002) -> None:
    """The header's chip comes from the panel's health analysis (computed once), and says what a health score
    without history says: the same verdict."""
    explorer, data = acc002
    sc = explorer.scorecard()
    alone = health.health_score(data, book.quarter, with_history=False)
    assert explorer.header.value == panels.header_html(sc, alone)


def test_root_cause_panel_names_where_late_deliveries_concentrate(book, acc002) -> None:
    """The explorer shows the root-cause analysis of the selection: its hotspots (lane with carrier, late of
    shipments, since when) and repeat complaints, as analyses.root_cause computes them."""
    from kam_helpers.analyses.root_cause import root_causes

    explorer, data = acc002
    rc = root_causes(data, book.quarter)
    panel = explorer.root_cause.value
    assert f"{rc.late} of {rc.deliveries} deliveries" in panel
    top = rc.figures()["hotspots"][0]
    row = panel.split('class="kam-table kam-x-rc-hotspots"')[1].split("</tr>")[1]
    assert top["lane"] in row and top["carrier"] in row and f"{top['late']} of {top['shipments']}" in row
    recurrence = panel.split('class="kam-table kam-x-rc-recurrence"')[1]
    assert all(r["lane"] in recurrence for r in rc.figures()["recurrence"]) and rc.figures()["recurrence"]


def test_root_cause_panel_escapes_the_data() -> None:
    """A lane or carrier named like markup is shown as text."""
    data = _data()
    on_time, late = data.shipments.iloc[[0]], data.shipments.iloc[[1]]
    hostile = late.assign(carrier="<script>alert(1)</script>", origin="<img src=x onerror=alert(1)>")
    rows = pd.concat([hostile] * 8 + [late] * 2 + [on_time] * 30, ignore_index=True)
    rows["shipment_id"] = [f"S{i}" for i in range(len(rows))]
    rc = panels.compute_analyses(AccountData(data.account, rows, cases=data.cases), "2026Q3").root_cause
    assert not isinstance(rc, str) and len(rc.hotspots) == 1
    panel = panels.root_cause_html(rc)
    assert "<script>" not in panel and "<img" not in panel and "&lt;script&gt;" in panel


def _areas(explorer) -> dict[str, str]:
    """Every output area of the explorer → the text it holds (HTML, or its outputs as JSON)."""
    import json

    out = {
        name: getattr(explorer, name).value
        for name in ("header", "cards", "status", "table", "download", "what_if", "audit_download")
    }
    out |= {f"panel {key}": w.value for key, w in explorer.panels.items()}
    out |= {f"title {key}": w.value for key, w in explorer.titles.items()}
    out |= {f"chart {name}": json.dumps(w.outputs, ensure_ascii=False) for name, w in explorer.charts.items()}
    return out


def test_a_switch_never_shows_two_accounts(book, acc002, monkeypatch) -> None:
    """A switch to a selection not computed yet first swaps in its header, cards and charts with panels that say
    they are being computed for it, then its complete view: at no moment does an output area hold the previous
    account's name, and once done every chart subtitle and panel title names the new selection."""
    explorer, _ = acc002
    deferred: list = []
    monkeypatch.setattr(explorer_page, "_after_reply", deferred.append)
    old, new = book.name("ACC-002"), book.name("ACC-003")
    explorer.account.value = "ACC-003"  # not cached yet
    label = views.selection_label(new, book.quarter)
    first = _areas(explorer)
    assert not [k for k, v in first.items() if old in v]
    assert new in first["header"] and "kam-loading" in first["header"] and len(deferred) == 1
    assert all(f"Computing the analyses of {label}" in explorer.panels[k].value for k in explorer.panels)
    assert all(
        label in first[f"chart {n}"] and label in first[f"title {k}"] for n in explorer.charts for k in explorer.titles
    )
    deferred[0]()
    done = _areas(explorer)
    assert not [k for k, v in done.items() if old in v or "Computing" in v or "kam-loading" in v]
    assert all(label in done[f"title {k}"] for k in explorer.titles) and new in done["header"]
    for name, widget in explorer.charts.items():
        data = widget.outputs[0]["data"]
        subtitle = data[views.VEGALITE_MIME]["title"]["subtitle"] if views.VEGALITE_MIME in data else data["text/html"]
        assert label in subtitle, name
    assert "data-score=" in explorer.health.value
    explorer.account.value = "ACC-002"  # cached: swapped in at once, complete
    assert len(deferred) == 1 and not [k for k, v in _areas(explorer).items() if new in v or "Computing" in v]
    assert explorer.header.layout.visibility == explorer.body.layout.visibility == "visible"


def test_the_next_selections_are_precomputed_without_evicting_visited_ones(book, monkeypatch) -> None:
    """In the background the explorer computes the views of the accounts after the shown one, a step at a time;
    a view half computed in the background is finished, not restarted, when the KAM asks for it; background
    views only fill free places of the cache."""
    explorer = explorer_page.AccountExplorer(book.workspace, "ACC-001", str(book.quarter))
    calls: list[str] = []
    real = views.view_steps
    monkeypatch.setattr(views, "view_steps", lambda s, a, q: calls.append(a) or real(s, a, q))
    assert explorer.wanted()[0] == ("ACC-002", str(book.quarter))  # the next account first
    assert explorer.precompute_step() and calls == ["ACC-002"]  # started: one step taken
    explorer.account.value = "ACC-002"  # finished, not restarted
    assert calls == ["ACC-002"] and "data-score=" in explorer.health.value
    nearest = explorer.wanted()[:2]  # from ACC-002: ACC-003 and ACC-001 (cached)
    assert nearest == [("ACC-003", str(book.quarter)), ("ACC-001", str(book.quarter))]
    while len(explorer.views) < 4:  # ACC-001, ACC-002 and two more
        explorer.precompute_step()
    assert calls == ["ACC-002", "ACC-003", "ACC-002"]  # the third: ACC-002 of the prior quarter
    explorer.account.value = "ACC-003"
    assert len(calls) == 3
    small = views.ViewCache(explorer.source, size=2)
    small.get("ACC-005", str(book.quarter))
    while small.advance([("ACC-006", str(book.quarter)), ("ACC-007", str(book.quarter))]):
        pass
    assert len(small) == 2 and small.cached("ACC-005", str(book.quarter))  # the visited view stays


def test_the_computing_note_escapes_the_account_name() -> None:
    note = panels.loading_note('<script>alert(1)</script> & "Co" (Q3 2026)')
    assert "<script>" not in note and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot;" in note


def test_panels_say_why_when_an_analysis_has_no_data() -> None:
    data = _data()  # no invoice lines, no rate cards
    a = panels.compute_analyses(data, "2026Q3")
    assert isinstance(a.audit, str) and "nothing to audit" in a.audit
    assert "No invoice audit" in panels.audit_html(a.audit, "EUR")
    assert "kam-note" in panels.health_html("x: no data") and "No what-if" in panels.what_if_html("y", None)


@pytest.mark.slow
def test_book_shows_health_score_and_sorts(book) -> None:
    page = book_page.BookOfBusiness(book.workspace)
    with Workspace.open(book.workspace) as ws:
        expected = health.book_health(ws, book.quarter).set_index("account_id")["score"]
    scores = {r.account_id: r.health_score for r in page.rows}
    assert scores == pytest.approx(expected.to_dict())
    assert 'kam-x-book-score">' in page.table.value
    assert [r.account_id for r in page.visible_rows()] == [r.account_id for r in book_page.rank_book(page.rows)]
    first = page.table.value
    page.sort.value = "health_score"
    got = [r.health_score for r in page.visible_rows()]
    assert got == sorted(got) and page.table.value != first
    first_two = [f'data-account="{r.account_id}"' for r in page.visible_rows()[:2]]
    assert page.table.value.index(first_two[0]) < page.table.value.index(first_two[1])
    page.sort.value = "revenue"
    revenue = [r.revenue for r in page.visible_rows()]
    assert revenue == sorted(revenue, reverse=True)
    page.sort.value = "renewal"
    days = [r.days_to_renewal for r in page.visible_rows() if r.days_to_renewal is not None]
    assert days == sorted(days)
    page.sort.value = "risk"
    assert page.table.value == first


def test_sort_book_orders_and_refuses_unknown_keys() -> None:
    def row(i: str, h: str, rev: float | None, days: int | None, score: float | None) -> book_page.BookRow:
        return book_page.BookRow(i, i, "EUR", rev, None, None, None, None, h, (), days, score, "red")

    rows = [
        row("a", "healthy", 9.0, 300, 90.0),
        row("b", "at_risk", 1.0, None, 20.0),
        row("c", "at_risk", 5.0, 40, None),
        row("d", "watch", None, -5, 55.0),
    ]
    ids = lambda by: [r.account_id for r in book_page.sort_book(rows, by)]  # noqa: E731
    assert ids("risk") == ["c", "b", "d", "a"]
    assert ids("health_score") == ["b", "d", "a", "c"]
    assert ids("revenue") == ["a", "c", "b", "d"]
    assert ids("renewal") == ["d", "c", "a", "b"]
    with pytest.raises(ValueError):
        book_page.sort_book(rows, "__class__")


def test_a_broken_health_config_is_an_error_not_a_missing_score(book, acc002, tmp_path, monkeypatch) -> None:
    """Only "no data" (NoDataError) means "no health score": a health.yml that does not parse fails the QBR's
    analyses, the explorer's panels and the book of business with a ConfigError naming the file."""
    from kam_helpers.analyses import insights
    from kam_helpers.core.errors import ConfigError

    broken = tmp_path / "health.yml"
    broken.write_text("measures: [unclosed\n", encoding="utf-8")
    monkeypatch.setattr(health, "CONFIG_FILE", broken)
    _, data = acc002
    with pytest.raises(ConfigError, match="health.yml"):
        insights.health_or_none(data, book.quarter)
    with pytest.raises(ConfigError, match="health.yml"):
        panels.compute_analyses(data, book.quarter)
    book_page.book_rows.cache_clear()
    with pytest.raises(ConfigError, match="health.yml"):
        book_page.book_rows(str(book.workspace), str(book.quarter))
    book_page.book_rows.cache_clear()


def test_exact_money_and_changes_come_from_core_formatting() -> None:
    assert formatting.fmt_money_exact(2_091_553.28, "EUR") == "€2,091,553"
    assert formatting.fmt_money_exact(-1_200.4, "EUR") == "−€1,200" and formatting.fmt_money_exact(None) == "–"
    assert formatting.fmt_money_exact(1_200, "EUR", plus=True) == "+€1,200"
    assert formatting.fmt_money_exact(0.4, "EUR", plus=True) == "€0"
    assert [formatting.fmt_change(x) for x in (1.23, -0.8, 0)] == ["+1.2", "−0.8", "±0.0"]


def test_the_background_thread_computes_the_next_views_then_rests(book) -> None:
    """Resumed (as a kernel does after a switch), the background thread computes the wanted views into the
    cache and then waits; every area is visible again after a swap."""
    import time

    explorer = explorer_page.AccountExplorer(book.workspace, "ACC-001", str(book.quarter))
    wanted = explorer.wanted(limit=2)
    explorer.background.resume(wanted, delay=0.0)
    deadline = time.monotonic() + 300  # a hang guard, not a speed check
    while explorer.background._go.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not explorer.background._go.is_set()
    assert all(explorer.views.cached(a, q) for a, q in wanted) and len(explorer.views) == 3
    explorer.account.value = "ACC-002"  # cached: swapped in at once
    assert book.name("ACC-002") in explorer.header.value
    assert explorer.header.layout.visibility == explorer.body.layout.visibility == "visible"


def test_panel_titles_and_no_data_notes_escape_the_account_name() -> None:
    """The titles and notes that name the selection take the account's name from the data: markup stays text."""
    from kam_helpers.apps.views import chart_output, panel_title

    hostile = '<script>alert(1)</script> "../x" =HYPERLINK("http://evil")'
    title = panel_title("Health", hostile)
    note = chart_output(None, "Monthly volume", hostile)["data"]["text/html"]
    for text in (title, note):
        assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
