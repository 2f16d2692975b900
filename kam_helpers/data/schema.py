"""The data model: every table of the workspace, declared once.

Each table is a :class:`Table` of :class:`Field` s. From this one declaration come the DuckDB DDL of the store
(:func:`ddl`), the pandera schemas that validate typed rows (:mod:`kam_helpers.data.validate`), the coercion of text
exports (:mod:`kam_helpers.coerce`) and the data-model reference (``kam schema`` / docs/DATA_MODEL.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from kam_helpers.core.paths import ID_EXPECTED, ID_PATTERN

Kind = Literal["text", "int", "float", "date", "timestamp", "bool"]

MODES = ("FTL", "LTL", "Parcel", "Intermodal", "Air", "Ocean")
SHIPMENT_STATUSES = ("booked", "in_transit", "delivered", "cancelled")
INVOICE_STATUSES = ("open", "paid", "disputed", "credited")
CHARGE_TYPES = ("linehaul", "fuel", "accessorial")
RATE_BASES = ("per_kg", "per_shipment", "per_km", "flat")
CASE_CATEGORIES = ("late delivery", "damage", "loss", "billing dispute", "communication", "other")
CASE_SEVERITIES = ("low", "medium", "high", "critical")
CASE_STATUSES = ("open", "closed")
OPP_STAGES = ("prospecting", "qualification", "proposal", "negotiation", "won", "lost")
TIERS = ("Strategic", "Key", "Growth")
TARGET_METRICS = (
    "otd_pct",
    "otp_pct",
    "otif_pct",
    "damage_ratio_pct",
    "invoice_accuracy_pct",
    "gross_margin_pct",
    "revenue",
    "shipments",
    "days_to_pay",
    "median_hours_to_resolve",
)

SQL_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "bool": "BOOLEAN",
}

EXPECTED: dict[str, str] = {
    "text": "text",
    "int": "a whole number",
    "float": "a number",
    "date": "a date (YYYY-MM-DD)",
    "timestamp": "a date and time (YYYY-MM-DD HH:MM)",
    "bool": "true or false",
}


def safe_id_sql(column_sql: str) -> str:
    """SQL (DuckDB) true when the text ``column_sql`` is a safe id: the same rule as :func:`is_safe_id`."""
    return f"(regexp_full_match({column_sql}, '{ID_PATTERN}') AND strpos({column_sql}, '..') = 0)"


@dataclass(frozen=True)
class Field:
    """One column: its name, kind, whether it may be empty, and the values it may take. ``names_files``:
    the value becomes a file or folder name, so it must be a safe id (:data:`ID_PATTERN`)."""

    name: str
    kind: Kind
    doc: str
    required: bool = True
    allowed: tuple[str, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None
    names_files: bool = False

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.kind]

    def expectation(self) -> str:
        """Human wording of what a value must look like, e.g. 'a number ≥ 0'."""
        if self.allowed:
            return "one of " + ", ".join(self.allowed)
        if self.names_files:
            return ID_EXPECTED
        text = EXPECTED[self.kind]
        if self.min_value is not None and self.max_value is not None:
            return f"{text} from {self.min_value:g} to {self.max_value:g}"
        if self.min_value is not None:
            return f"{text} ≥ {self.min_value:g}"
        return text


@dataclass(frozen=True)
class Rule:
    """A check across columns of one row: ``sql`` is true for a valid row (NULLs pass)."""

    name: str
    columns: tuple[str, ...]
    sql: str
    expected: str


@dataclass(frozen=True)
class Table:
    """One table of the workspace: fields, primary key, and row rules."""

    name: str
    doc: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    rules: tuple[Rule, ...] = field(default=())
    references: dict[str, str] = field(default_factory=dict)  # column -> "table.column"

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def required_columns(self) -> list[str]:
        return [f.name for f in self.fields if f.required]


def _f(name: str, kind: Kind, doc: str, **kw: Any) -> Field:
    if name == "account_id":  # every table's account_id: it names the account's report folder
        kw.setdefault("names_files", True)
    return Field(name, kind, doc, **kw)


ACCOUNTS = Table(
    "accounts",
    "A client of the logistics provider.",
    (
        _f("account_id", "text", "Stable client identifier, e.g. ACC-001."),
        _f("name", "text", "Client's legal or trading name."),
        _f("industry", "text", "Industry of the client.", required=False),
        _f("tier", "text", "Account tier.", required=False, allowed=TIERS),
        _f("region", "text", "Sales region.", required=False),
        _f("owner", "text", "Key account manager who owns the client.", required=False),
        _f("contract_start", "date", "First day of the current contract.", required=False),
        _f("contract_end", "date", "Last day of the current contract (renewal date).", required=False),
        _f("currency", "text", "ISO 4217 currency of all money fields of the account.", required=False),
        _f(
            "committed_shipments",
            "int",
            "Shipments per year committed in the contract.",
            required=False,
            min_value=0,
        ),
    ),
    key=("account_id",),
    rules=(
        Rule(
            "contract_dates",
            ("contract_start", "contract_end"),
            "contract_end >= contract_start",
            "contract_end on or after contract_start",
        ),
    ),
)

SHIPMENTS = Table(
    "shipments",
    "One shipment (load) moved for a client.",
    (
        _f("shipment_id", "text", "Shipment (load) number."),
        _f("account_id", "text", "Client the shipment was moved for."),
        _f("mode", "text", "Transport mode.", allowed=MODES),
        _f("origin", "text", "Origin city or site; lane = origin → destination."),
        _f("destination", "text", "Destination city or site."),
        _f("carrier", "text", "Carrier or own fleet that moved it.", required=False),
        _f("pickup_planned", "timestamp", "Planned pickup.", required=False),
        _f("pickup_actual", "timestamp", "Actual pickup.", required=False),
        _f("delivery_promised", "timestamp", "Promised delivery (the SLA date).", required=False),
        _f("delivery_actual", "timestamp", "Actual delivery; empty while in transit.", required=False),
        _f("weight_kg", "float", "Gross weight in kilograms.", required=False, min_value=0),
        _f("pieces", "int", "Pieces (cartons).", required=False, min_value=0),
        _f("pallets", "int", "Pallets.", required=False, min_value=0),
        _f("distance_km", "float", "Distance in kilometres.", required=False, min_value=0),
        _f("revenue", "float", "Amount billed to the client.", required=False),
        _f("cost", "float", "Carrier and operating cost.", required=False),
        _f("status", "text", "Shipment status.", allowed=SHIPMENT_STATUSES),
        _f("damaged", "bool", "Damage exception recorded at delivery.", required=False),
        _f("short", "bool", "Shortage (not in full) recorded at delivery.", required=False),
    ),
    key=("shipment_id",),
    rules=(
        Rule(
            "delivered_after_pickup",
            ("pickup_actual", "delivery_actual"),
            "delivery_actual >= pickup_actual",
            "delivery_actual on or after pickup_actual",
        ),
        Rule(
            "delivered_has_date",
            ("status", "delivery_actual"),
            "status <> 'delivered' OR delivery_actual IS NOT NULL",
            "a delivery_actual date for a delivered shipment",
        ),
    ),
    references={"account_id": "accounts.account_id"},
)

INVOICES = Table(
    "invoices",
    "An invoice issued to a client.",
    (
        _f("invoice_id", "text", "Invoice number."),
        _f("account_id", "text", "Client invoiced."),
        _f("issued", "date", "Issue date."),
        _f("due", "date", "Due date.", required=False),
        _f("paid", "date", "Date paid in full; empty if unpaid.", required=False),
        _f("amount", "float", "Invoice total."),
        _f("status", "text", "Final status of the invoice.", allowed=INVOICE_STATUSES),
    ),
    key=("invoice_id",),
    rules=(
        Rule("paid_after_issued", ("issued", "paid"), "paid >= issued", "paid on or after issued"),
        Rule("due_after_issued", ("issued", "due"), "due >= issued", "due on or after issued"),
    ),
    references={"account_id": "accounts.account_id"},
)

INVOICE_LINES = Table(
    "invoice_lines",
    "A line of an invoice: one charge for one shipment.",
    (
        _f("invoice_id", "text", "Invoice the line belongs to."),
        _f("line_no", "int", "Line number within the invoice.", min_value=1),
        _f("shipment_id", "text", "Shipment charged; empty for charges not tied to one.", required=False),
        _f("charge_type", "text", "Kind of charge.", allowed=CHARGE_TYPES),
        _f("amount", "float", "Amount charged."),
    ),
    key=("invoice_id", "line_no"),
    references={"invoice_id": "invoices.invoice_id"},
)

RATE_CARDS = Table(
    "rate_cards",
    "A contracted price for a mode and lane (or zone) over a validity period.",
    (
        _f("rate_id", "text", "Rate card line identifier."),
        _f("account_id", "text", "Client the rate is contracted with."),
        _f("mode", "text", "Transport mode.", allowed=MODES),
        _f("origin", "text", "Origin; empty = any origin (zone rate).", required=False),
        _f("destination", "text", "Destination; empty = any destination.", required=False),
        _f("basis", "text", "What the rate multiplies.", allowed=RATE_BASES),
        _f("rate", "float", "Price per unit of the basis.", min_value=0),
        _f("minimum", "float", "Minimum linehaul charge per shipment.", required=False, min_value=0),
        _f("fuel_surcharge_pct", "float", "Fuel surcharge on linehaul, in %.", required=False, min_value=0),
        _f("valid_from", "date", "First day the rate applies."),
        _f("valid_to", "date", "Last day the rate applies; empty = open-ended.", required=False),
    ),
    key=("rate_id",),
    rules=(Rule("validity", ("valid_from", "valid_to"), "valid_to >= valid_from", "valid_to on or after valid_from"),),
    references={"account_id": "accounts.account_id"},
)

CASES = Table(
    "cases",
    "A complaint or claim raised by a client.",
    (
        _f("case_id", "text", "Case number."),
        _f("account_id", "text", "Client who raised it."),
        _f("opened", "timestamp", "When the case was opened."),
        _f("closed", "timestamp", "When it was closed; empty while open.", required=False),
        _f("category", "text", "What the case is about.", allowed=CASE_CATEGORIES),
        _f("severity", "text", "Severity.", required=False, allowed=CASE_SEVERITIES),
        _f("shipment_id", "text", "Shipment concerned, if any.", required=False),
        _f("claim_amount", "float", "Amount claimed.", required=False, min_value=0),
        _f("status", "text", "Case status.", allowed=CASE_STATUSES),
        _f("root_cause", "text", "Root cause found.", required=False),
    ),
    key=("case_id",),
    rules=(Rule("closed_after_opened", ("opened", "closed"), "closed >= opened", "closed on or after opened"),),
    references={"account_id": "accounts.account_id"},
)

OPPORTUNITIES = Table(
    "opportunities",
    "A deal in the pipeline with a client.",
    (
        _f("opp_id", "text", "Opportunity identifier."),
        _f("account_id", "text", "Client."),
        _f("service", "text", "Service offered: a mode, a lane, warehousing, value-added services."),
        _f("stage", "text", "Pipeline stage.", allowed=OPP_STAGES),
        _f("amount", "float", "Annual value.", min_value=0),
        _f("probability", "float", "Probability of winning, 0–1.", min_value=0, max_value=1),
        _f("expected_close", "date", "Expected close date.", required=False),
    ),
    key=("opp_id",),
    references={"account_id": "accounts.account_id"},
)

TARGETS = Table(
    "targets",
    "A goal or SLA for a client and period (a quarter like 2026Q3, or 'contract' for every quarter).",
    (
        _f("account_id", "text", "Client."),
        _f("period", "text", "Quarter (YYYYQn) or 'contract'."),
        _f("metric", "text", "KPI the target applies to.", allowed=TARGET_METRICS),
        _f("target", "float", "Target value; percentages on a 0–100 scale."),
        _f("tolerance", "float", "Amber band: a miss within this much is amber.", required=False, min_value=0),
    ),
    key=("account_id", "period", "metric"),
    references={"account_id": "accounts.account_id"},
)

TABLES: dict[str, Table] = {
    t.name: t for t in (ACCOUNTS, SHIPMENTS, INVOICES, INVOICE_LINES, RATE_CARDS, CASES, OPPORTUNITIES, TARGETS)
}


def ddl(table: Table) -> str:
    """Table → ``CREATE TABLE`` statement for DuckDB (types only; validation happens before loading)."""
    cols = ",\n  ".join(f'"{f.name}" {f.sql_type}' for f in table.fields)
    return f'CREATE TABLE "{table.name}" (\n  {cols}\n)'


def markdown_reference() -> str:
    """Every table and column as Markdown: the data-model reference users read."""
    out = ["# Data model", "", "Generated from `kam_helpers/schema.py` by `kam schema`.", ""]
    for t in TABLES.values():
        out += [f"## {t.name}", "", t.doc, "", f"Key: {', '.join(t.key)}.", ""]
        out += ["| column | type | required | expected | meaning |", "|---|---|---|---|---|"]
        for f in t.fields:
            out.append(f"| {f.name} | {f.kind} | {'yes' if f.required else 'no'} | {f.expectation()} | {f.doc} |")
        for r in t.rules:
            out.append(f"\nRule `{r.name}`: {r.expected}.")
        for col, ref in t.references.items():
            out.append(f"\n`{col}` refers to `{ref}`.")
        out.append("")
    return "\n".join(out)
