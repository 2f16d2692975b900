"""A report's parameters checked against the workspace (kam_helpers.data.params): a wrong account or quarter is one
message naming the parameter and what exists, in papermill runs (no traceback), on a Voilà page (a notice) and in
the book of business."""

from __future__ import annotations

from pathlib import Path

import papermill as pm
import pytest

from kam_helpers.apps import page as voila_page
from kam_helpers.core.errors import ParameterError
from kam_helpers.core.paths import notebooks_dir
from kam_helpers.data import params
from kam_helpers.data.store import Workspace


@pytest.mark.parametrize(
    ("account_id", "quarter", "parameter", "says"),
    [
        ("ACC-999", "", "account_id", "its 12 accounts are ACC-001, ACC-002"),
        ("", "2030Q1", "quarter", "2030Q1 has no data yet: the workspace has data for 2024Q4 to 2026Q3"),
        ("", "2026Q5", "quarter", "'2026Q5' is not a quarter like 2026Q3: the workspace has data for"),
        ("", "2019Q1", "quarter", "2019Q1 has no data: the workspace has data for 2024Q4 to 2026Q3"),
    ],
)
def test_a_wrong_parameter_names_itself_and_what_exists(
    book, account_id: str, quarter: str, parameter: str, says: str
) -> None:
    with Workspace.open(book.workspace) as ws, pytest.raises(ParameterError) as caught:
        params.check(ws, account_id, quarter)
    assert caught.value.parameter == parameter and str(caught.value).startswith(parameter)
    assert says in str(caught.value)
    assert parameter == "account_id" or str(caught.value).endswith("(last complete quarter: 2026Q3)")


@pytest.mark.parametrize(("account_id", "quarter"), [("", ""), ("ACC-002", "2026Q3"), ("ACC-001", "2026-Q2")])
def test_known_parameters_pass(book, account_id: str, quarter: str) -> None:
    with Workspace.open(book.workspace) as ws:
        params.check(ws, account_id, quarter)


def test_ipython_shows_a_wrong_parameter_as_its_one_line() -> None:
    error = ParameterError("quarter", "quarter 2030Q1 has no data yet: …")
    assert error._render_traceback_() == ["ParameterError: quarter 2030Q1 has no data yet: …"]


@pytest.mark.parametrize(
    ("parameters", "named"),
    [({"account_id": "ACC-999"}, "account_id 'ACC-999'"), ({"quarter": "2030Q1"}, "quarter 2030Q1 has no data yet")],
)
def test_papermill_fails_naming_the_parameter_without_a_traceback(
    book, tmp_path: Path, parameters: dict, named: str
) -> None:
    with pytest.raises(pm.PapermillExecutionError) as caught:
        pm.execute_notebook(
            str(notebooks_dir() / "qbr.ipynb"),
            str(tmp_path / "out.ipynb"),
            parameters={**parameters, "workspace": str(book.workspace)},
            progress_bar=False,
            kernel_name="python3",
        )
    message = str(caught.value)
    assert caught.value.ename == "ParameterError" and named in caught.value.evalue
    assert caught.value.traceback == [f"ParameterError: {caught.value.evalue}"]  # no frames: one line
    assert "Traceback" not in message and 'File "' not in message and len(message.splitlines()) <= 5


def test_a_voila_page_shows_the_message_as_a_notice(book, monkeypatch: pytest.MonkeyPatch) -> None:
    from kam_helpers.qbr.report import QbrReport

    monkeypatch.setenv("VOILA_SERVER_URL", "http://127.0.0.1:1/")
    page = voila_page.report_or_notice(QbrReport.load, "", "2030Q1", str(book.workspace))
    text = page.header().data
    assert "No report for this quarter" in text and "2030Q1 has no data yet" in text and "kam-scoped" in text
    text = voila_page.report_or_notice(QbrReport.load, "ACC-999", "", str(book.workspace)).header().data
    assert "There is no account <b>ACC-999</b> in this workspace: its 12 accounts are ACC-001" in text


def test_the_book_of_business_refuses_a_quarter_without_data(book, monkeypatch: pytest.MonkeyPatch) -> None:
    from kam_helpers.apps.book import BookOfBusiness

    with pytest.raises(ParameterError, match="quarter 2030Q1 has no data yet"):
        BookOfBusiness.for_page(quarter="2030Q1", workspace=str(book.workspace))
    monkeypatch.setenv("VOILA_SERVER_URL", "http://127.0.0.1:1/")
    monkeypatch.setenv("QUERY_STRING", "quarter=2030Q1")
    notice = BookOfBusiness.for_page(workspace=str(book.workspace))
    assert "has no data yet" in notice._repr_html_()
