"""Shared fixtures: one sample book of business per test session, built as a user would build it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from kam_helpers.quarters import Quarter

END_QUARTER = Quarter(2026, 3)


@dataclass(frozen=True)
class Book:
    exports: Path  # the sample's CSV exports (as a company's systems would write them)
    workspace: Path  # the store built from them
    quarter: Quarter


@pytest.fixture(scope="session")
def book(tmp_path_factory: pytest.TempPathFactory) -> Book:
    """The default sample book (12 accounts, 8 quarters to 2026Q3), generated and loaded once."""
    from kam_helpers.sample import generate_book
    from kam_helpers.sources import folder_loader
    from kam_helpers.store import build_workspace

    root = tmp_path_factory.mktemp("book")
    generate_book(root / "exports", end_quarter=END_QUARTER)
    report = build_workspace(root / "workspace", folder_loader(root / "exports"))
    assert not report.problems, report.summary()
    return Book(root / "exports", root / "workspace", END_QUARTER)


@pytest.fixture(autouse=True)
def _no_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never write into the checkout's data/ or reports/."""
    monkeypatch.setenv("KAM_REPORTS", str(tmp_path / "reports"))
    monkeypatch.setenv("KAM_WORKSPACE", str(tmp_path / "no-workspace"))
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
