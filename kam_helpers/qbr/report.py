"""The QBR as the notebook shows it: one object per account and quarter whose methods return display objects.

``notebooks/qbr.ipynb`` stays thin: each cell calls one method of :class:`QbrReport`. The same objects render
in JupyterLab, in the exported HTML (charts as inline SVG, so nothing loads from a network) and in Voilà.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jinja2
from IPython.display import HTML

from kam_helpers import metrics
from kam_helpers.analyses import insights
from kam_helpers.analyses.assessment import Assessment, action_items, assess
from kam_helpers.analyses.commitments import CarriedItem, Status, item_record
from kam_helpers.analyses.health import HealthScore
from kam_helpers.core.errors import ConfigError
from kam_helpers.core.files import write_atomic
from kam_helpers.core.formatting import fmt_growth, fmt_pp, fmt_quarter
from kam_helpers.core.paths import TEMPLATES_DIR
from kam_helpers.core.quarters import Quarter
from kam_helpers.core.safe_html import markdown_to_html
from kam_helpers.data import params
from kam_helpers.data.account_data import AccountData
from kam_helpers.data.store import Workspace
from kam_helpers.metrics.kpi_text import fmt_kpi
from kam_helpers.metrics.scorecard import Kpi, Scorecard
from kam_helpers.qbr import charts, narrative
from kam_helpers.qbr.outline import CARD_KPIS, chart_title, part
from kam_helpers.qbr.renderer import chart_bundle
from kam_helpers.qbr.styles import styled

AUDIENCES = ("client", "internal")
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR / "report")), autoescape=True, undefined=jinja2.StrictUndefined
)


def _html(template: str, **values: Any) -> HTML:
    """A template of templates/report/ rendered with ``values`` → an HTML output carrying its scoped styles."""
    return HTML(styled(_env.get_template(template).render(**values)))


def kpi_row(kpi: Kpi, currency: str | None) -> dict:
    """Kpi → its figures as displayed: value ('no data' when the data has none), prior, last year, target
    (with 'standard' when the client has no contracted one), QoQ change, RAG."""

    def show(value: float | None) -> str:
        return fmt_kpi(replace(kpi, value=value), currency) if value is not None else "–"

    change = fmt_pp(kpi.change_qoq) if kpi.unit == "pct" else fmt_growth(kpi.growth_qoq_pct)
    return {
        "key": kpi.key,
        "label": kpi.label,
        "rag": kpi.rag,
        "value": fmt_kpi(kpi, currency) if kpi.value is not None else "no data",
        "prior": show(kpi.prior),
        "last_year": show(kpi.last_year),
        "target": show(kpi.target) + (" (standard)" if kpi.target_source == "standard" else ""),
        "target_source": kpi.target_source,
        "has_prior": kpi.prior is not None and kpi.value is not None,
        "has_target": kpi.target is not None,
        "change": change,
    }


def _check_audience(audience: str) -> None:
    """Nothing for an audience of AUDIENCES; ConfigError naming them for any other."""
    if audience not in AUDIENCES:
        raise ConfigError(f"audience {audience!r}: expected one of {', '.join(AUDIENCES)}")


class ChartView:
    """An Altair chart for display: Vega-Lite for JupyterLab and Voilà (drawn by their bundled renderer,
    interactive), with the same chart as SVG for exports, which pick the SVG (no script needed). ``spec`` is the
    chart's Vega-Lite when the caller has it already (None: made from the chart)."""

    def __init__(self, chart: charts.AnyChart, svg: str, title: str, spec: dict | None = None) -> None:
        self.chart, self.svg, self.title, self.spec = chart, svg, title, spec

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict:
        return chart_bundle(self.spec if self.spec is not None else charts.spec(self.chart), self.svg, self.title)


class NarrativeView:
    """A narrative section for display: ``text/markdown`` (its escaped Markdown) and ``text/html`` (that
    Markdown rendered and sanitised, :func:`kam_helpers.core.safe_html.markdown_to_html`). nbconvert, JupyterLab
    and Voilà all pick the HTML, so no renderer of theirs ever sees markup it could run."""

    def __init__(self, markdown: str) -> None:
        self.markdown = markdown

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict:
        html_body = markdown_to_html(self.markdown)
        return {
            "text/html": styled(f'<div class="kam-narrative">{html_body}</div>'),
            "text/markdown": self.markdown,
            "text/plain": self.markdown,
        }


@dataclass
class QbrReport:
    """One account's QBR for one quarter: data, scorecard and narrative, with display methods."""

    data: AccountData
    scorecard: Scorecard  # what this audience sees (a client's view has no cost or margin)
    narrative: narrative.Narrative
    internal: Scorecard | None = None  # the full scorecard, for the batch's manifest and the KAM's own pages
    insights: insights.Insights | None = None
    assessment: Assessment | None = None  # the one verdict (assessment.assess on the full scorecard)
    prepared: metrics.PreparedAccount | None = field(default=None, repr=False, compare=False)  # data's frames
    health_score: HealthScore | None = None  # computed for every audience; shown to internal readers only
    # Rendered once per report and shared by the page, the deck and the PDF.
    _rendered: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def load(
        cls,
        account_id: str = "",
        quarter: str = "",
        workspace: str | Path = "",
        audience: str = "client",
        reports_dir: str | Path = "",
        as_of: str = "",
    ) -> QbrReport:
        """Parameters of the notebook → QbrReport (reads only this account's rows from the store).

        ``audience`` 'client' (what is sent to the client: no cost or margin) or 'internal' (everything).
        ``reports_dir`` is the folder holding one folder per quarter (reports/), where the previous QBR's
        action items are read from ('' = the project's reports folder). ``as_of`` is the date the data is
        judged at ('' = the data's newest event; docs/PERIODS.md). The account is prepared once
        (metrics.prepare): both scorecards, the health score, the analyses and the exports share it.
        """
        _check_audience(audience)
        with Workspace.open(workspace or None) as ws:
            params.check(ws, account_id, quarter)  # a wrong one: one message naming it and what exists
            given = metrics.parse_as_of(as_of)
            q = ws.report_quarter(quarter, given)
            data = metrics.with_as_of(ws.account_data(account_id or ws.account_ids()[0], q), given)
            return cls.from_prepared(metrics.prepare(data), q, ws, audience, reports_dir)

    @classmethod
    def from_prepared(
        cls,
        prepared: metrics.PreparedAccount,
        quarter: Quarter,
        ws: Workspace,
        audience: str = "client",
        reports_dir: str | Path = "",
    ) -> QbrReport:
        """An account prepared as :meth:`load` reads it for ``quarter``, and the open workspace it comes from (the
        analyses set it beside the book) → its QbrReport: :meth:`load` after the reading, for a caller holding
        the prepared account already (the analyst's API)."""
        _check_audience(audience)
        params.check_quarter(ws, quarter)  # before or after the workspace's data: one message saying which it has
        q = quarter
        full = metrics.scorecard(prepared, q)
        view = (lambda s: s.for_client()) if audience == "client" else (lambda s: s)
        sc, before = view(full), view(metrics.scorecard(prepared, q.prior))
        internal = audience == "internal"
        score = insights.health_or_none(prepared, q, with_history=internal)
        found = insights.gather(
            prepared, q, ws, now=sc, before=before, internal=internal, health=score, reports=Path(reports_dir or "")
        )
        # One verdict for every audience and page: judged on the full scorecard and the health score.
        assessment = assess(full, score)
        report = cls(
            prepared.data,
            sc,
            narrative.build_narrative(sc, insights=found, assessment=assessment),
            internal=full,
            insights=found,
            prepared=prepared,
        )
        report.assessment = assessment
        report.health_score = score
        report._rendered[("prior",)] = before
        return report

    def __repr__(self) -> str:
        audience = "the client" if self.internal is not None and self.scorecard is not self.internal else "the KAM"
        return f"<QbrReport {self.data.account_id} {self.scorecard.quarter} for {audience}>"

    def _ipython_display_(self) -> None:
        """A notebook cell ending with the report shows all of it, in the order of notebooks/qbr.ipynb: header,
        health (internal only), then the outline's parts (narrative, KPI cards, charts), then the scorecard."""
        from IPython.display import display

        from kam_helpers.qbr.outline import PARTS

        shown = {"last_qbr": self.last_qbr, "scorecard": self.kpi_cards, "action_items": self.action_items}
        display(self.header())
        health = self.health()
        if health is not None:
            display(health)
        for p in PARTS:
            if p.key in shown:
                display(shown[p.key]())
                continue
            display(self.section(p.key))
            if p.charts:
                self.charts(p.key)
        display(self.scorecard_table())

    @property
    def currency(self) -> str | None:
        return self.scorecard.account.get("currency")

    def header(self) -> HTML:
        """Title block: client, quarter, KAM, contract."""
        a = self.scorecard.account
        return _html("header.html.j2", a=a, quarter=str(self.scorecard.quarter), excluded=self.data.excluded_note())

    def kpi_cards(self) -> HTML:
        """The headline KPIs as cards with QoQ change and RAG colour."""
        rows = [kpi_row(self.scorecard.kpis[k], self.currency) for k in CARD_KPIS if k in self.scorecard.kpis]
        return _html("cards.html.j2", kpis=rows)

    def section(self, key: str) -> NarrativeView:
        """One narrative section (executive_summary, volume, service, billing, ...) with its title: its
        Markdown, and that Markdown as sanitised HTML, which the report and the pages show."""
        for s in self.narrative.sections:
            if s.key == key:
                return NarrativeView(f"## {s.title}\n\n{s.markdown}")
        raise KeyError(f"the narrative has no section {key!r}")

    def _memo(self, key: tuple, make: Callable[[], Any]) -> Any:
        if key not in self._rendered:
            self._rendered[key] = make()
        return self._rendered[key]

    def chart_object(self, name: str) -> charts.AnyChart | None:
        """The Altair chart ``name`` of :mod:`kam_helpers.qbr.charts` for this scorecard (None without data)."""
        return self._memo(("chart", name), lambda: getattr(charts, name)(self.scorecard))

    def chart_spec(self, name: str) -> dict | None:
        """Chart ``name`` as Vega-Lite (made once: the page shows it, the SVG is rendered from it)."""
        chart = self.chart_object(name)
        return None if chart is None else self._memo(("spec", name), lambda: charts.spec(chart))

    def chart_svg(self, name: str) -> str | None:
        """Chart ``name`` as SVG (rendered once, shared by the HTML report and the PNG for the deck and PDF)."""
        spec = self.chart_spec(name)
        return None if spec is None else self._memo(("svg", name), lambda: charts.spec_to_svg(spec))

    def chart_png(self, name: str, scale: float = charts.PNG_SCALE) -> bytes | None:
        """The chart as PNG (for decks and PDFs, which share it at PNG_SCALE), converted from the same SVG the
        page shows."""
        svg = self.chart_svg(name)
        return None if svg is None else self._memo(("png", name, scale), lambda: charts.svg_to_png(svg, scale))

    @property
    def prior_scorecard(self) -> Scorecard:
        """The scorecard of the quarter before (for last QBR's commitments)."""

        def prior() -> Scorecard:
            sc = metrics.scorecard(self.data, self.scorecard.quarter.prior)
            return sc if self.internal is None or self.scorecard is self.internal else sc.for_client()

        return self._memo(("prior",), prior)

    def chart_note(self, name: str) -> str:
        """Why chart ``name`` has nothing to draw: nothing happened (no late deliveries, no cases) or the
        workspace holds no data for it."""
        sc, title = self.scorecard, chart_title(name)
        quarter = fmt_quarter(sc.quarter)
        otd = sc.value("otd_pct")
        if name in ("worst_lanes", "worst_carriers") and otd is not None and otd < 100:
            what = "carrier" if name == "worst_carriers" else "origin and destination"
            return f"{title}: the data records no {what} for the late deliveries of {quarter}, so none is ranked."
        if name in ("worst_lanes", "worst_carriers") and otd is not None:
            return f"No late deliveries in {quarter}: every measured delivery was on time."
        if name == "cases_by_category" and sc.available.get("cases"):
            return f"No cases were opened or closed in {quarter}."
        return f"{title}: no data for this in the workspace."

    def chart(self, name: str) -> ChartView | HTML:
        """A chart of :mod:`kam_helpers.qbr.charts`, or a note saying why there is none."""
        title = chart_title(name)
        svg, chart = self.chart_svg(name), self.chart_object(name)
        if svg is None or chart is None:
            return HTML(styled(f'<div class="kam-note">{html.escape(self.chart_note(name))}</div>'))
        return ChartView(chart, svg, title, self.chart_spec(name))

    def scorecard_table(self) -> HTML:
        """Every KPI with prior quarter, last year, target and RAG."""
        kpis = [kpi_row(k, self.currency) for k in self.scorecard.kpis.values()]
        return _html("scorecard.html.j2", kpis=kpis, quarter=self.scorecard.quarter)

    def last_qbr(self) -> HTML:
        """The action items agreed at the last QBR, each with its status and the evidence for it."""
        section = next((s for s in self.narrative.sections if s.key == "last_qbr"), None)
        items = self.insights.carried if self.insights else None
        return _html(
            "last_qbr.html.j2",
            title=section.title if section else part("last_qbr").title,
            items=items,
            first=items is None,
            prior=fmt_quarter(self.scorecard.quarter.prior),
        )

    def health(self) -> HTML | None:
        """The account's health score with its drivers: for internal readers only (None in a client's report)."""
        score = self.insights.health if self.insights else None
        if score is None:
            return None
        return _html("health.html.j2", h=score)

    def action_items(self) -> HTML:
        """The action items section: what we will do, who owns it, by when."""
        section = next((s for s in self.narrative.sections if s.key == "action_items"), None)
        title = section.title if section else part("action_items").title
        return _html("actions.html.j2", title=title, items=self.narrative.action_items)

    def charts(self, key: str) -> None:
        """Display the charts of the outline's part ``key`` in order (each a chart or a note saying why there is
        none): one notebook cell shows a part's charts."""
        from IPython.display import display

        for chart in part(key).charts:
            display(self.chart(chart.name))

    def headline(self) -> dict:
        """The KAM's headline of this QBR, for the batch's manifest and index (never shown to the client):
        name, owner, as_of, kpis (revenue, shipments, otd_pct, gross_margin_pct, invoice_accuracy_pct,
        cases_opened, currency, assessment, health_score, health_band, coverage), action_items (what the
        client's QBR agreed: text, owner, due, reason_kpi; the next quarter's QBR reads them back)."""
        full = self.internal or self.scorecard
        verdict = self.assessment or assess(full, self.health_score)
        score = self.health_score
        kpis = {**full.headline(), "currency": self.data.account.get("currency"), "assessment": verdict.overall}
        kpis.update(
            health_score=None if score is None else round(score.score, 1),
            health_band=None if score is None else score.band,
            coverage=narrative.coverage_note(full.coverage) or None,
        )
        as_of = self.data.as_of
        return {
            "name": self.data.name,
            "owner": self.data.account.get("owner"),
            "kpis": kpis,
            "as_of": as_of.strftime("%d %b %Y") if as_of is not None else None,
            "action_items": [item_record(item) for item in action_items(full.for_client(), verdict)],
        }

    def save_headline(self, path: str | Path) -> None:
        """Write :meth:`headline` as JSON to ``path`` for the batch to read back; nothing when path is ''."""
        if path:
            write_atomic(Path(path), json.dumps(self.headline(), default=str))

    def previous_actions(self) -> tuple[Quarter, list[tuple[CarriedItem, Status]] | None]:
        """(prior quarter, [(action item agreed at the prior QBR, 'done' | 'open' | 'overdue')]), None for the list
        when no earlier QBR is on record. The items are those the prior QBR stored, judged by
        :func:`kam_helpers.analyses.commitments.carry_over` (via the insights), with the evidence on each."""
        prior = self.scorecard.quarter.prior
        carried = self.insights.carried if self.insights is not None else None
        if carried is None:
            return prior, None
        return prior, [(item, item.status) for item in carried]
