"""Hostile data through the real product (issue 10, items 2 and 3): no live markup, no formula.

``fixtures/hostile/patches.csv`` puts markup (``<script>``, ``<img onerror>``, ``"><svg onload>``, Markdown
links and images) and formulas (``=HYPERLINK(…)``, ``+1-2``, ``-2+3``, ``@SUM(A1)``) into one account's
exports of the sample book. The exports are loaded as any company's would be, the real batch (papermill)
renders the account's QBR pack, and the tests read every file it wrote, open the HTML in Chromium, open the
QBR page and the book of business in Voilà, and read back every spreadsheet and CSV the apps hand out.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import shutil
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest
from conftest import Book
from test_browser import CHART, Guard, Server, chromium_available

from kam_helpers.analyses import audit
from kam_helpers.apps.explorer import AccountExplorer
from kam_helpers.batch.driver import run_batch
from kam_helpers.batch.jobs import BatchResult
from kam_helpers.core.safe_html import REPORT_CSP
from kam_helpers.core.safe_output import FORMULA_START
from kam_helpers.data.sources import folder_loader
from kam_helpers.data.store import Workspace, build_workspace

pytestmark = pytest.mark.batch  # every test here reads what the real batch wrote

PATCHES = Path(__file__).parent / "fixtures" / "hostile" / "patches.csv"
NAME = "<script>alert(1)</script><img src=x onerror=alert(2)>"
OWNER = "<img src=x onerror=alert(4)>"
ORIGIN = '"><svg onload=alert(3)>'
CARRIER = "<img src=x onerror=alert(5)>"
FORMULAS = ('=HYPERLINK("http://x","y")', "+1-2", "@SUM(A1)", "-2+3")
DANGEROUS_TAGS = {"script", "iframe", "frame", "object", "embed", "base", "form"}


def apply_patches(exports: Path, accounts: dict[str, str], patches: Path = PATCHES) -> list[dict[str, str]]:
    """Exports folder + {planted profile: account id} + patches.csv (table, column, account — a profile such as
    'at_risk' —, match, value) → the exports rewritten with each matching cell of that account's rows ('*'
    matches any) set to ``value``; → the patches applied."""
    with open(patches, newline="", encoding="utf-8") as fh:
        todo = [{**p, "account_id": accounts[p["account"]]} for p in csv.DictReader(fh)]
    for table in sorted({p["table"] for p in todo}):
        path = exports / f"{table}.csv"
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        header = rows[0]
        for p in (p for p in todo if p["table"] == table):
            col, acc = header.index(p["column"]), header.index("account_id")
            hits = [r for r in rows[1:] if r[acc] == p["account_id"] and p["match"] in ("*", r[col])]
            assert hits, f"patch {p} matches no row of {table}.csv"
            for r in hits:
                r[col] = p["value"]
        with open(path, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)
    return todo


@dataclass(frozen=True)
class Hostile:
    workspace: Path
    batch: BatchResult
    account_id: str  # the account whose exports carry the hostile values (the sample's first at-risk one)

    @property
    def pack(self) -> Path:
        return self.batch.manifest.parent / self.account_id


@pytest.fixture(scope="module")
def hostile(book: Book, tmp_path_factory: pytest.TempPathFactory) -> Hostile:
    root = tmp_path_factory.mktemp("hostile")
    shutil.copytree(book.exports, root / "exports")
    account_id = book.at_risk  # late clusters: its worst lane and carrier are named in the narrative
    apply_patches(root / "exports", {"at_risk": account_id})
    report = build_workspace(root / "workspace", folder_loader(root / "exports"))
    assert not report.problems, report.summary()  # text is text: the hostile values are valid data
    out = root / "reports" / str(book.quarter)
    batch = run_batch(book.quarter, [account_id], workspace=root / "workspace", out=out, workers=1, progress=False)
    assert not batch.failed, [(r.account_id, r.error) for r in batch.failed]
    return Hostile(root / "workspace", batch, account_id)


class Markup(HTMLParser):
    """Every element with its attributes, and the page's text, as a browser's parser sees them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def live_markup(self) -> list[str]:
        """Elements and attributes that could run or load something: the list must be empty."""
        found = []
        for tag, attrs in self.elements:
            if tag in DANGEROUS_TAGS:
                found.append(f"<{tag}>")
            for name, value in attrs.items():
                if name.startswith("on"):
                    found.append(f"<{tag} {name}>")
                if name in ("href", "src", "action", "xlink:href") and re.match(
                    r"\s*(javascript|vbscript):", value or "", re.I
                ):
                    found.append(f"<{tag} {name}={value}>")
                if tag == "img" and name == "src" and not (value or "").startswith("data:image/"):
                    found.append(f"<img src={value}>")
        return found


def _svg_images(markup: Markup) -> list[str]:
    return [
        base64.b64decode(attrs["src"].split(",", 1)[1]).decode("utf-8")
        for tag, attrs in markup.elements
        if tag == "img" and (attrs.get("src") or "").startswith("data:image/svg+xml;base64,")
    ]


def test_the_qbr_report_shows_the_hostile_text_as_text(hostile: Hostile) -> None:
    html = (hostile.pack / "qbr.html").read_text(encoding="utf-8")
    page = Markup(html)
    assert page.live_markup() == []
    text = "".join(page.text)
    for value in (NAME, OWNER, ORIGIN, CARRIER):
        assert value in text, f"{value!r} is not shown as text"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "javascript:" not in "".join(str(a.get("href")) for _, a in page.elements)
    charts = _svg_images(page)
    assert charts, "the report embeds its charts as SVG images"
    for svg in charts:  # lane and carrier names are axis labels inside the charts
        assert Markup(svg).live_markup() == []
    csp = [
        a.get("content")
        for tag, a in page.elements
        if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp == [REPORT_CSP]


def test_the_book_of_business_shows_the_hostile_name_as_text(hostile: Hostile) -> None:
    html = hostile.batch.index.read_text(encoding="utf-8")
    page = Markup(html)
    assert page.live_markup() == []
    assert NAME in "".join(page.text)
    assert f'href="{hostile.account_id}/qbr.html"' in html
    assert ("meta", {"http-equiv": "Content-Security-Policy", "content": REPORT_CSP}) in page.elements


def test_deck_and_pdf_show_the_text_without_markdown_escapes(hostile: Hostile) -> None:
    from pypdf import PdfReader

    with zipfile.ZipFile(hostile.pack / "qbr.pptx") as z:
        deck = "\n".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xml"))
    assert "&lt;img src=x onerror=alert(4)&gt;" in deck  # the owner, as text in the slides' XML
    assert "&lt;img src=x onerror=alert(5)&gt;" in deck  # the worst carrier, in the notes
    assert "\\&lt;" not in deck and "\\[" not in deck, "Markdown escapes leaked into the deck"
    pdf = "\n".join(p.extract_text() for p in PdfReader(hostile.pack / "qbr.pdf").pages)
    assert "\\<" not in pdf and "\\[" not in pdf


# --------------------------------------------------------------------------------------------- spreadsheets


def _no_formula_cells(xlsx: bytes) -> list[openpyxl.cell.Cell]:
    """An .xlsx → its cells (asserting that none is a formula)."""
    wb = openpyxl.load_workbook(io.BytesIO(xlsx))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    formulas = [(c.parent.title, c.coordinate, c.value) for c in cells if c.data_type == "f"]
    assert formulas == []
    return cells


def _csv_cells(raw: bytes) -> list[str]:
    """CSV bytes → every cell (asserting that none starts like a formula unless it is a negative number)."""
    cells = [cell for row in csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")) for cell in row]
    for cell in cells:
        if cell.startswith(FORMULA_START):
            assert re.fullmatch(r"-\d+(\.\d+)?(e[+-]?\d+)?", cell), f"CSV cell {cell!r} would run as a formula"
    return cells


def _download(link_html: str) -> bytes:
    return base64.b64decode(link_html.split("base64,", 1)[1].split('"', 1)[0])


def test_the_activity_workbook_holds_no_formula(hostile: Hostile) -> None:
    cells = _no_formula_cells((hostile.pack / "activity.xlsx").read_bytes())
    text = {c.value for c in cells if c.data_type == "s"}
    for value in FORMULAS:
        assert value in text
    assert all(c.quotePrefix for c in cells if c.value in FORMULAS)


def test_the_explorer_downloads_hold_no_formula(hostile: Hostile) -> None:
    explorer = AccountExplorer(hostile.workspace, account_id=hostile.account_id, quarter=str(hostile.batch.quarter))
    cells = _no_formula_cells(_download(explorer.prepare_download("xlsx")))
    assert {'=HYPERLINK("http://x","y")', "+1-2", "@SUM(A1)"} <= {c.value for c in cells if c.data_type == "s"}
    shipments_csv = _csv_cells(_download(explorer.prepare_download("csv")))
    for value in ('=HYPERLINK("http://x","y")', "+1-2", "@SUM(A1)"):
        assert "'" + value in shipments_csv
    _no_formula_cells(_download(explorer.prepare_audit_download("xlsx")))
    _csv_cells(_download(explorer.prepare_audit_download("csv")))


def test_the_audit_export_holds_no_formula(hostile: Hostile, tmp_path: Path) -> None:
    with Workspace.open(hostile.workspace) as ws:
        data = ws.account_data(hostile.account_id)
    found = audit.invoice_audit(data, hostile.batch.quarter)
    evil = found.exceptions.assign(detail='=HYPERLINK("http://x","y")')
    path = audit.to_excel(audit.Audit(**{**found.__dict__, "exceptions": evil}), tmp_path / "audit.xlsx")
    cells = _no_formula_cells(path.read_bytes())
    assert '=HYPERLINK("http://x","y")' in {c.value for c in cells if c.data_type == "s"}


# ------------------------------------------------------------------------------------------------ browsers


def browser_only(test):
    """A test that opens Chromium: marked `browser`, skipped (and named as skipped) without Chromium."""
    return pytest.mark.browser(pytest.mark.skipif(not chromium_available(), reason="no Chromium")(test))


def _watch(page) -> list[str]:
    dialogs: list[str] = []

    def on_dialog(d) -> None:
        dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    page.on("dialog", on_dialog)
    return dialogs


def _settled(page) -> None:
    """Wait until the page has loaded and painted twice (images decoded, handlers that would fire have fired)."""
    page.wait_for_load_state("load")
    page.evaluate("() => Promise.all(Array.from(document.images, i => i.decode().catch(() => null)))")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


@browser_only
@pytest.mark.parametrize("which", ["report", "index"])
def test_no_dialog_fires_when_the_report_and_index_are_opened(hostile: Hostile, browser, which: str) -> None:
    path = hostile.pack / "qbr.html" if which == "report" else hostile.batch.index
    context = browser.new_context()
    page = context.new_page()
    dialogs, errors = _watch(page), []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    _settled(page)
    shown, scripts = page.inner_text("body"), page.evaluate("() => document.scripts.length")
    context.close()
    assert dialogs == []
    assert errors == [], f"{path.name} needs more than its CSP allows: {errors}"
    assert NAME in shown and scripts == 0


@pytest.fixture(scope="module")
def server(hostile: Hostile, tmp_path_factory: pytest.TempPathFactory):
    srv = Server(hostile.workspace, tmp_path_factory.mktemp("serve-hostile") / "kam-serve.log").start()
    yield srv
    srv.stop()


@browser_only
@pytest.mark.parametrize("app, charts", [("qbr", 3), ("portfolio", 0)], ids=["qbr-page", "book-of-business"])
def test_no_dialog_fires_in_the_voila_pages(hostile: Hostile, server: Server, browser, app: str, charts: int) -> None:
    query = f"?account_id={hostile.account_id}&quarter={hostile.batch.quarter}" if app == "qbr" else ""
    path = f"/voila/render/{app}.ipynb{query}"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(120_000)
    guard, dialogs = Guard(), _watch(page)
    guard.attach(page)
    page.goto(server.link(path))
    page.wait_for_selector("#rendered_cells", state="visible")
    if charts:
        page.wait_for_function(f"() => document.querySelectorAll({CHART!r}).length >= {charts}")
    page.wait_for_function(f"() => document.body.innerText.includes({NAME!r})")
    _settled(page)
    csp = page.get_attribute('meta[http-equiv="Content-Security-Policy"]', "content")
    context.close()
    assert dialogs == []
    guard.check()  # no request to another host (a Markdown image), no console error (nothing the CSP refused)
    assert csp and "default-src 'none'" in csp
