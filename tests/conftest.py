"""Shared fixtures: one sample book of business per test session, built as a user would build it."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from kam_helpers.core.quarters import Quarter

END_QUARTER = Quarter(2026, 3)


@dataclass(frozen=True)
class Book:
    exports: Path  # the sample's CSV exports (as a company's systems would write them)
    workspace: Path  # the store built from them
    quarter: Quarter

    def accounts_with_profile(self, profile: str) -> list[str]:
        """The accounts planted.json gives ``profile`` ('healthy', 'at_risk', 'growing', ...), in id order."""
        profiles = json.loads((self.exports / "planted.json").read_text())["profiles"]
        return sorted(a for a, p in profiles.items() if p == profile)

    def name(self, account_id: str) -> str:
        """The client name of ``account_id`` in the sample's accounts export."""
        with (self.exports / "accounts.csv").open(encoding="utf-8-sig", newline="") as f:
            return next(row["name"] for row in csv.DictReader(f) if row["account_id"] == account_id)

    @property
    def first(self) -> str:
        """The first account id of the book."""
        with (self.exports / "accounts.csv").open(encoding="utf-8-sig", newline="") as f:
            return min(row["account_id"] for row in csv.DictReader(f))

    @property
    def healthy(self) -> str:
        """The first account the sample planted as healthy."""
        return self.accounts_with_profile("healthy")[0]

    @property
    def at_risk(self) -> str:
        """The first account the sample planted as at risk (late clusters on a lane and carrier)."""
        return self.accounts_with_profile("at_risk")[0]


@pytest.fixture(scope="session")
def book(tmp_path_factory: pytest.TempPathFactory) -> Book:
    """The default sample book (12 accounts, 8 quarters to 2026Q3), generated and loaded once."""
    from kam_helpers.data.sources import folder_loader
    from kam_helpers.data.store import build_workspace
    from kam_helpers.devtools.sample_book import generate_book

    root = tmp_path_factory.mktemp("book")
    generate_book(root / "exports", end_quarter=END_QUARTER)
    report = build_workspace(root / "workspace", folder_loader(root / "exports"))
    assert not report.problems, report.summary()
    return Book(root / "exports", root / "workspace", END_QUARTER)


def pytest_configure(config: pytest.Config) -> None:
    """Even session- and module-scoped fixtures never read or write the checkout's data/ or reports/ (a `make
    demo` before `make test` must not change what a test sees): a session-wide empty folder stands in for both."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="kam-test-session-"))
    os.environ["KAM_REPORTS"] = str(root / "reports")
    os.environ["KAM_WORKSPACE"] = str(root / "no-workspace")


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright, one per test module (tests/test_browser.py's ``launch``)."""
    from playwright.sync_api import sync_playwright
    from test_browser import launch

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture(autouse=True)
def _no_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never write into the checkout's data/ or reports/."""
    monkeypatch.setenv("KAM_REPORTS", str(tmp_path / "reports"))
    monkeypatch.setenv("KAM_WORKSPACE", str(tmp_path / "no-workspace"))
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


# ------------------------------------------------------------------------------------------- kinds of test
# The slow kinds carry a marker (declared in pyproject.toml) so `make test-fast` can leave them out. A module
# is marked by its name, a test by the fixtures it uses; `office` tests mark themselves.
SLOW_MODULES = {"test_browser": "browser", "test_postgres": "postgres", "test_scms": "batch", "test_batch": "batch"}
SLOW_FIXTURES = {"batch": "batch", "server": "browser", "voila_server": "browser", "pack": "batch"}

# The programs a kind needs, and the Debian packages that bring them (`.ci/run` installs them).
NEEDS = {
    "browser": ("chromium", "chromium"),
    "office": ("soffice, pdftoppm", "libreoffice-impress poppler-utils"),
    "postgres": ("initdb", "postgresql"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        kinds = {SLOW_MODULES.get(item.module.__name__.rsplit(".", 1)[-1])} if item.module else set()
        kinds |= {SLOW_FIXTURES.get(name) for name in getattr(item, "fixturenames", ())}
        for kind in sorted(k for k in kinds if k):
            item.add_marker(getattr(pytest.mark, kind))


_SKIPPED_LINE = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """One closing line naming the kinds of test that were skipped (they skip when their program is missing) and
    how to get the programs, so a green run never hides that the browser, office or database tests did not run."""
    skipped: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        for kind in NEEDS:
            if kind in getattr(report, "keywords", {}):
                skipped[kind] = skipped.get(kind, 0) + 1
    if skipped:
        packages = " ".join(NEEDS[kind][1] for kind in skipped)
        config.stash[_SKIPPED_LINE] = (
            f"SKIPPED: {', '.join(f'{n} {kind}' for kind, n in skipped.items())} tests — their programs are missing; "
            f"install them with `apt-get install -y {packages}` (.ci/run does)"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    """The skipped-kinds line comes last, after pytest's own summary, where nobody misses it."""
    line = config.stash.get(_SKIPPED_LINE, None)
    if line:
        config.get_terminal_writer().line(line, yellow=True, bold=True)


def store_qbr(book: Book, account_id: str, quarter: Quarter, reports: Path) -> Path:
    """Store the account's QBR of ``quarter`` in ``reports/<quarter>/manifest.json`` as `kam qbr` does (its
    headline and action items), so the next quarter's report has a last QBR to follow up. → the reports folder."""
    from kam_helpers.qbr.report import QbrReport

    published = QbrReport.load(account_id, str(quarter), book.workspace, reports_dir=reports).headline()
    folder = reports / str(quarter)
    folder.mkdir(parents=True, exist_ok=True)
    entry = {
        "account_id": account_id,
        "status": "ok",
        "kpis": published["kpis"],
        "action_items": published["action_items"],
    }
    (folder / "manifest.json").write_text(json.dumps({"quarter": str(quarter), "accounts": [entry]}, default=str))
    return reports
