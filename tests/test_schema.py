"""The data model is declared once; its DDL, reference doc and KPI names agree with it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from kam_helpers import metrics
from kam_helpers.data.schema import TABLES, TARGET_METRICS, ddl, markdown_reference

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_table_has_valid_ddl_and_its_key_among_its_columns(name: str) -> None:
    table = TABLES[name]
    con = duckdb.connect()
    con.execute(ddl(table))
    assert [r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()] == table.columns
    assert set(table.key) <= set(table.columns)
    for rule in table.rules:
        assert set(rule.columns) <= set(table.columns)
        con.execute(f"SELECT {rule.sql} FROM {name}")  # the rule is valid SQL over the table


def test_the_data_model_reference_is_current() -> None:
    assert (ROOT / "docs" / "DATA_MODEL.md").read_text() == markdown_reference() + "\n", (
        "docs/DATA_MODEL.md is stale: run `kam schema > docs/DATA_MODEL.md`"
    )


def test_every_target_metric_is_a_scorecard_kpi() -> None:
    assert set(TARGET_METRICS) <= set(metrics.KPI_SPECS)
