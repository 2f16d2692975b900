"""The outline of a QBR: its parts in order, their titles, which charts each part shows, the KPI cards and the
words for a RAG status.

The notebook's report (:class:`kam_helpers.qbr.report.QbrReport` and ``notebooks/qbr.ipynb``), the narrative,
the deck and the PDF all read this outline; none of them declares an order, a title or a chart of its own.
A company's narrative template may still retitle a section with its own heading (the narrative's wording).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chart:
    """A chart of a part: ``name`` is a builder of :mod:`kam_helpers.qbr.charts`, ``title`` what a reader calls it
    (in notes saying why a chart is empty, and in the chart's plain-text stand-in)."""

    name: str
    title: str


@dataclass(frozen=True)
class Part:
    """One part of the QBR. ``narrative``: worded by ``templates/narrative/<key>.md.j2``; ``charts`` in the order
    shown, the first is the one a slide has room for; ``slide_title`` where a slide says it shorter."""

    key: str
    title: str
    charts: tuple[Chart, ...] = ()
    narrative: bool = True
    slide_title: str | None = None

    @property
    def on_slide(self) -> str:
        """The part's title on a slide."""
        return self.slide_title or self.title


PARTS: tuple[Part, ...] = (
    Part("last_qbr", "Last QBR's action items"),
    Part("executive_summary", "Executive summary"),
    Part("scorecard", "Scorecard", narrative=False),  # the KPI cards on the page; the table on a slide and the PDF
    Part(
        "volume",
        "Volume and spend",
        (Chart("volume_revenue_trend", "Monthly volume and revenue"), Chart("mode_mix", "Revenue by mode")),
    ),
    Part(
        "service",
        "Service performance",
        (
            Chart("otd_vs_sla", "On-time delivery vs SLA"),
            Chart("worst_lanes", "Late deliveries by lane"),
            Chart("worst_carriers", "Late deliveries by carrier"),
        ),
        slide_title="Service vs SLA",
    ),
    Part("billing", "Billing"),
    Part("complaints", "Complaints and claims", (Chart("cases_by_category", "Cases by category"),)),
    Part("opportunities", "Opportunities"),
    Part("outlook", "Outlook", (Chart("quarterly_trend", "Revenue by quarter"),)),
    Part("action_items", "Action items"),
)
NARRATIVE_PARTS: tuple[Part, ...] = tuple(p for p in PARTS if p.narrative)

# The headline KPIs shown as cards under the executive summary (and on the explorer), in this order.
CARD_KPIS: tuple[str, ...] = (
    "revenue",
    "shipments",
    "gross_margin_pct",
    "otd_pct",
    "otp_pct",
    "damage_ratio_pct",
    "invoice_accuracy_pct",
    "cases_opened",
)

# A KPI's RAG status in words (None: the KPI has no target); a table cell is coloured by the RAG itself.
RAG_WORDS: dict[str | None, str] = {"green": "On target", "amber": "Watch", "red": "Missed", None: "No target"}


def part(key: str) -> Part:
    """The part with ``key``; KeyError naming the known keys when absent."""
    for p in PARTS:
        if p.key == key:
            return p
    raise KeyError(f"the QBR has no part {key!r}; parts are {[p.key for p in PARTS]}")


def chart_title(name: str) -> str:
    """A chart's title as the outline gives it ('Revenue by mode'), else its name in words ('Mode mix')."""
    for p in PARTS:
        for chart in p.charts:
            if chart.name == name:
                return chart.title
    return name.replace("_", " ").capitalize()
