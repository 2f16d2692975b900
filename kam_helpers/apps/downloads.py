"""What the apps let the KAM download, as offline links: the shipment activity of a period and the invoice
audit, as CSV or Excel (text kept as text, never a formula: :mod:`kam_helpers.core.safe_output`).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from kam_helpers.analyses import audit as audit_mod
from kam_helpers.core import safe_output
from kam_helpers.data import rules
from kam_helpers.metrics import active_shipments, lanes

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def activity_frame(data: Any, start: dt.date | None = None, end: dt.date | None = None) -> pd.DataFrame:
    """AccountData → the account's shipment activity for a client workbook: one row per shipment whose ship
    date lies in [start, end] (all when None), with lane, on-time flag and margin; oldest first."""
    ships = data.shipments
    if ships is None or ships.empty:
        return pd.DataFrame(columns=["shipment_id", "ship_date"])
    active = active_shipments(ships)
    if start is not None:
        active = active[active["ship_date"] >= pd.Timestamp(start)]
    if end is not None:
        active = active[active["ship_date"] < pd.Timestamp(end) + pd.Timedelta(days=1)]
    measured = active["delivery_actual"].notna() & active["delivery_promised"].notna()
    on_time = rules.on_time(active).astype("boolean").where(measured)  # unknown until delivered and promised
    keep = [
        c
        for c in (
            "shipment_id",
            "ship_date",
            "mode",
            "origin",
            "destination",
            "carrier",
            "pickup_planned",
            "pickup_actual",
            "delivery_promised",
            "delivery_actual",
            "status",
            "weight_kg",
            "pallets",
            "revenue",
            "damaged",
            "short",
        )
        if c in active.columns
    ]
    return (
        active[keep]
        .assign(lane=lanes(active), on_time=on_time)
        .sort_values("ship_date", kind="stable")
        .reset_index(drop=True)
    )


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """Frame → UTF-8 CSV with a BOM (Excel opens it with the right accents); formula-like text neutralised
    (:func:`kam_helpers.core.safe_output.csv_bytes`)."""
    return safe_output.csv_bytes(frame)


def to_xlsx_bytes(frame: pd.DataFrame, sheet: str = "Shipments") -> bytes:
    """Frame → an .xlsx workbook, header frozen, columns sized to their content; text stays text
    (:func:`kam_helpers.core.safe_output.frame_to_xlsx`)."""
    return safe_output.frame_to_xlsx(frame, sheet)


def download_link(content: bytes, filename: str, mime: str, label: str) -> str:
    """Bytes → an HTML anchor with a data: URL that the browser saves as ``filename`` (works offline)."""
    href = f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"
    size = f"{len(content) / 1024:,.0f} KB"
    return (
        f'<a class="kam-download" download="{html.escape(filename)}" href="{href}">'
        f"{html.escape(label)} · {html.escape(filename)} ({size})</a>"
    )


def file_link(kind: str, stem: str, csv: Callable[[], bytes], xlsx: Callable[[], bytes]) -> str:
    """'csv' or 'xlsx', file name stem, builders of each → an offline download link (only the asked one is built)."""
    if kind == "csv":
        return download_link(csv(), f"{stem}.csv", "text/csv", "Download CSV")
    if kind == "xlsx":
        return download_link(xlsx(), f"{stem}.xlsx", XLSX_MIME, "Download Excel")
    raise ValueError(f"unknown download {kind!r}")


def audit_xlsx_bytes(a: audit_mod.Audit) -> bytes:
    """Audit → the billing team's workbook (audit.to_excel: Summary and Exceptions sheets) as bytes."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kam-audit-") as tmp:
        return audit_mod.to_excel(a, Path(tmp) / "audit.xlsx").read_bytes()
