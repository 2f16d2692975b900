"""Import mappings: the shipped ones load; a broken one is a ConfigError naming the mapping file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from kam_helpers.core.errors import ConfigError
from kam_helpers.data.mapping import load_mapping, quoted_columns

MAPPINGS = Path(__file__).resolve().parents[1] / "data" / "mappings"

GOOD = """
source: {dates: ["%d/%m/%Y"], missing: ["N/A"]}
tables:
  accounts:
    file: customers.csv
    fields: {account_id: Customer No, name: Customer Name, contract_start: {column: Start, format: "%Y%m%d"}}
"""


@pytest.mark.parametrize("name", ["example.yml", "scms_usaid.yml"])
def test_the_shipped_mappings_load(name: str) -> None:
    mapping = load_mapping(MAPPINGS / name)
    assert {"accounts", "shipments"} <= set(mapping.tables)


def test_formats_come_from_the_field_then_the_source(tmp_path: Path) -> None:
    (tmp_path / "m.yml").write_text(GOOD)
    mapping = load_mapping(tmp_path / "m.yml")
    assert mapping.formats("accounts", "contract_start").date_formats == ("%Y%m%d",)
    assert mapping.formats("accounts", "name").missing == ("", "N/A")
    assert mapping.tables["accounts"].fields["name"].parts == ('"Customer Name"',)
    assert quoted_columns('upper("A ""b""") || "C"') == ['A "b"', "C"]


@pytest.mark.parametrize(
    "old, new, key",
    [
        ("  accounts:", "  acounts:", "tables.acounts: unknown table 'acounts'"),
        ("name: Customer Name", "nme: Customer Name", "tables.accounts.fields.nme: accounts has no field 'nme'"),
        ("{column: Start,", "{colum: Start,", "tables.accounts.fields.contract_start: unknown key 'colum'"),
        ("name: Customer Name, ", "", "tables.accounts.fields: required field 'name' is not mapped"),
        ('format: "%Y%m%d"', "agg: sum", "tables.accounts.fields.contract_start.agg: only a table with group_by"),
        ("    file: customers.csv", "    fil: customers.csv", "tables.accounts: unknown key 'fil'"),
        ("source: {", "sauce: {", "(top level): unknown key 'sauce'"),
        ('missing: ["N/A"]', "encoding: klingon", "source.encoding: unknown encoding 'klingon'"),
        ('missing: ["N/A"]', "on_problem: ignore", "source.on_problem: expected one of exclude, block, got 'ignore'"),
        (
            "    file: customers.csv",
            "    on_problem: skip",
            "tables.accounts.on_problem: expected one of exclude, block",
        ),
        ("    file: customers.csv", "    allow_empty: maybe", "tables.accounts.allow_empty: expected true or false"),
    ],
)
def test_a_broken_mapping_names_the_file_and_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    assert old in GOOD
    path = tmp_path / "broken.yml"
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert str(path) in str(err.value) and key in str(err.value)


def test_references_need_a_capturing_group(tmp_path: Path) -> None:
    path = tmp_path / "refs.yml"
    path.write_text(
        GOOD.replace(
            "    file: customers.csv", "    file: c.csv\n    references: {pattern: 'ID#', key: ID, columns: [W]}"
        )
    )
    with pytest.raises(ConfigError, match=r"tables.accounts.references.pattern: needs a \(group\)"):
        load_mapping(path)


def test_policies_and_empty_tables_come_from_the_table_then_the_source(tmp_path: Path) -> None:
    path = tmp_path / "m.yml"
    path.write_text(GOOD)
    table = load_mapping(path).tables["accounts"]
    assert (table.on_problem, table.allow_empty, table.sheet) == ("exclude", False, None)
    path.write_text(GOOD.replace("source: {", "source: {on_problem: block, ").replace(
        "    file: customers.csv", "    file: customers.csv\n    allow_empty: true"))  # fmt: skip
    table = load_mapping(path).tables["accounts"]
    assert (table.on_problem, table.allow_empty) == ("block", True)
    path.write_text(GOOD.replace("source: {", "source: {on_problem: block, ").replace(
        "    file: customers.csv", "    file: customers.csv\n    on_problem: exclude"))  # fmt: skip
    assert load_mapping(path).tables["accounts"].on_problem == "exclude"
