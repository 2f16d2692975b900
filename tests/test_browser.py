"""The apps in a real browser: Playwright drives Debian's Chromium against a real `kam serve` on 127.0.0.1.

Every test fails on a request to a host other than 127.0.0.1 / localhost and on any error in the browser
console. Screenshots of each app go to a temporary folder whose path is printed (``pytest -s`` shows it).
The helpers at the top (Server, Guard, screenshot) are also used by benchmarks/bench_voila.py.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from kam_helpers.apps.kernel_pools import POOLS_FULL
from kam_helpers.apps.server import READY_PREFIX

CHROMIUM = os.environ.get("KAM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
CHART = ".vega-embed svg, .vega-embed canvas"


def chromium_available() -> bool:
    return Path(CHROMIUM).exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_sample_workspace(root: Path) -> Path:
    """A sample book (2026Q3 the last quarter; planted.json says which accounts are at risk) → the workspace."""
    from kam_helpers.core.quarters import Quarter
    from kam_helpers.data.sources import folder_loader
    from kam_helpers.data.store import build_workspace
    from kam_helpers.devtools.sample_book import generate_book

    generate_book(root / "exports", end_quarter=Quarter(2026, 3))
    build_workspace(root / "ws", folder_loader(root / "exports"))
    return root / "ws"


@dataclass
class Server:
    """A `kam serve` subprocess in its own process group (so stopping it stops its kernels). :meth:`start`
    returns once it printed its ready line; ``token`` is the access token that line carries, which :meth:`link`
    adds to a path, as the URL `kam serve` prints does."""

    workspace: Path
    log: Path
    extra: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def link(self, path: str = "/") -> str:
        """``/voila/render/qbr.ipynb?account_id=ACC-002`` → the full URL with ``token=`` added to its query."""
        parts = urlparse(path)
        query = urlencode([*parse_qs(parts.query).items(), ("token", self.token)], doseq=True)
        return f"{self.url}{parts.path}?{query}"

    def _printed_token(self) -> str:
        found = re.search(re.escape(READY_PREFIX) + r" (http://\S+)", self.log.read_text())
        return parse_qs(urlparse(found.group(1)).query)["token"][0] if found else ""

    def start(self, timeout: float = 600) -> Server:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._log = open(self.log, "w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kam_helpers.cli",
                "serve",
                "--port",
                str(self.port),
                "--workspace",
                str(self.workspace),
                *self.extra,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kam serve exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            self.token = self.token or self._printed_token()
            if not self.token:  # not ready yet: no request before the URL is printed
                time.sleep(0.2)
                continue
            try:
                with urllib.request.urlopen(self.link("/"), timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"kam serve did not answer within {timeout} s:\n{self.log.read_text()[-3000:]}")

    def wait_for_pools(self, timeout: float = 600) -> None:
        """Wait until the log says every preheated pool is full and each of its kernels warm (again, after the
        last visit that took a pool kernel)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log.read_text()
            if log.rfind(POOLS_FULL) > log.rfind("Using pre-heated kernel"):
                return
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self._log.close()

    def memory_mb(self) -> float:
        """Resident memory of the server and every process under it (its kernels), in MB."""
        parents: dict[int, int] = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    parents[int(pid)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
        tree, grew = {self.proc.pid}, True
        while grew:
            more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
            tree |= more
            grew = bool(more)
        total = 0
        for pid in tree:
            try:
                with open(f"/proc/{pid}/statm") as fh:
                    total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            except OSError:
                continue
        return total / 1e6


@dataclass
class Guard:
    """What a page did that a test must fail on: non-local requests and console/page errors."""

    external: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, page) -> None:
        def route(r) -> None:
            url = urlparse(r.request.url)
            if url.scheme in ("data", "blob", "about") or url.hostname in LOCAL_HOSTS:
                r.continue_()
            else:
                self.external.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.on(
            "websocket", lambda ws: None if urlparse(ws.url).hostname in LOCAL_HOSTS else self.external.append(ws.url)
        )
        page.on("console", lambda m: self.errors.append(f"console.error: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on(
            "requestfailed",
            lambda r: (
                self.errors.append(f"failed request: {r.url} {r.failure}") if not r.url.startswith("data:") else None
            ),
        )

    def check(self) -> None:
        assert not self.external, f"requests to other hosts than 127.0.0.1: {self.external}"
        assert not self.errors, "errors in the browser:\n" + "\n".join(self.errors)


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def screenshot(page, path: Path) -> Path:
    """Whole app to a PNG: Voilà scrolls inside its own panel, so grow the viewport to the content first."""
    height = page.evaluate(
        "() => Math.max(document.body.scrollHeight, ...Array.from(document.querySelectorAll('*'))"
        ".map(e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": page.viewport_size["width"], "height": int(min(max(height, 600) + 40, 9000))})
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))
    return path


# ------------------------------------------------------------------------------------------------ the tests

pytestmark = pytest.mark.skipif(not chromium_available(), reason=f"no Chromium at {CHROMIUM} (.ci/run installs it)")


@pytest.fixture(scope="module")
def server(book, tmp_path_factory: pytest.TempPathFactory):
    srv = Server(book.workspace, tmp_path_factory.mktemp("serve") / "kam-serve.log").start()
    srv.wait_for_pools()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("screenshots")
    print(f"\nscreenshots of the apps: {folder}")
    return folder


@pytest.fixture
def page(browser, server):
    """A fresh page whose non-local requests and console errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(600_000)  # a hang guard, not a speed check: a fresh machine took 69 s for a first visit
    guard = Guard()
    guard.attach(pg)
    pg.guard = guard
    yield pg
    context.close()
    guard.check()


def open_app(page, server: Server, path: str, charts: int = 0) -> None:
    page.goto(server.link(path))
    page.wait_for_selector("#rendered_cells", state="visible")
    if charts:
        page.wait_for_function(f"() => document.querySelectorAll({CHART!r}).length >= {charts}")


def no_code_no_traceback(page) -> None:
    text = page.inner_text("body")
    assert "Traceback" not in text and "Error" not in text.replace("kam-error", "")
    assert "from kam_helpers" not in page.content()
    assert page.locator(".jp-InputArea .cm-content, .jp-InputArea pre").count() == 0


def test_landing_page_lists_the_apps(page, server: Server, shots: Path) -> None:
    page.goto(server.link("/"))
    apps = page.locator("ul.kam-apps").first  # the apps; any other notebook (the API's tour) is listed below them
    titles = apps.locator(".kam-app-title").all_inner_texts()
    assert titles == ["Book of business", "Account explorer", "Quarterly business review"]
    hrefs = apps.locator(".kam-app-card a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert hrefs == ["/voila/render/portfolio.ipynb", "/voila/render/account_explorer.ipynb", "/voila/render/qbr.ipynb"]
    screenshot(page, shots / "landing.png")


def test_explorer_draws_then_switches_account_in_place(page, server: Server, shots: Path, book) -> None:
    first, at_risk = book.first, book.at_risk  # the explorer opens on the first account
    name = book.name(at_risk)
    open_app(page, server, "/voila/render/account_explorer.ipynb", charts=4)
    header = page.locator(".kam-x-header")
    assert book.name(first) in header.inner_text()
    cards_before = page.locator(".kam-x-cards").inner_text()
    chart_before = page.locator(".kam-chart-volume_revenue_trend .vega-embed").inner_html()
    no_code_no_traceback(page)
    screenshot(page, shots / f"explorer-{first}.png")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.locator(".kam-x-controls select").first.select_option(label=f"{name} ({at_risk})")
    wait_for_complete_switch(page, f"{name} · Q3 2026", book.name(first))
    assert page.locator(".kam-x-cards").inner_text() != cards_before
    assert page.locator(".kam-chart-volume_revenue_trend .vega-embed").inner_html() != chart_before
    assert "At risk" in header.inner_text()
    assert page.locator(CHART).count() >= 4

    # the drill-down: open cases only, then the shipment activity as CSV
    page.locator(".kam-x-controls select").nth(2).select_option(label="Open cases")
    page.wait_for_function(
        "() => { const k = Array.from(document.querySelectorAll('.kam-drill tr td:first-child'), e => e.innerText);"
        " return k.length > 0 && k.every(t => t === 'Open case'); }"
    )
    kinds = page.locator(".kam-drill tr td:first-child").all_inner_texts()
    assert kinds and set(kinds) == {"Open case"}
    page.get_by_role("button", name="Shipments as CSV").click()
    link = page.locator("a.kam-download")
    link.wait_for()
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename.startswith(f"{at_risk}-shipments-") and download.suggested_filename.endswith(
        ".csv"
    )
    assert Path(download.path()).read_bytes().decode("utf-8-sig").startswith("shipment_id,")
    screenshot(page, shots / f"explorer-{at_risk}.png")


# the explorer's areas that name the selection they show, and the JavaScript that says when a switch is done
EXPLORER_AREAS = ".kam-x-header, .kam-x-chart, .kam-x-panel-title, .kam-x-panel"
SWITCH_DONE = """label => {
  const charts = Array.from(document.querySelectorAll('.kam-x-chart'));
  const titles = Array.from(document.querySelectorAll('.kam-x-panel-title'));
  const seen = e => e.checkVisibility({visibilityProperty: true});
  return !document.querySelector('.kam-loading') && charts.length === 4 && titles.length === 5
    && seen(document.querySelector('.kam-x-header')) && charts.every(seen)
    && charts.every(c => c.textContent.includes(label) && c.querySelector('.vega-embed svg, .kam-note'))
    && titles.every(t => t.textContent.includes(label));
}"""


def wait_for_complete_switch(page, label: str, old: str | None) -> None:
    """Wait until every chart subtitle and panel title of the explorer names ``label`` ('Name · Q3 2026') and
    nothing is loading; then no area may name ``old`` (the previous account or selection)."""
    page.wait_for_function(SWITCH_DONE, arg=label)
    if old is None:
        return
    naming_old = page.locator(EXPLORER_AREAS).evaluate_all(
        "(els, old) => els.filter(e => e.textContent.includes(old)).map(e => e.className)", old
    )
    assert not naming_old, f"areas still naming {old!r}: {naming_old}"
    assert label.split(" · ")[0] in page.locator(".kam-x-header").inner_text()


def test_explorer_switches_are_complete_and_never_mix_two_accounts(page, server: Server, book) -> None:
    """Successive switches (three accounts, then a quarter): each ends with every chart subtitle and panel title
    naming the new selection and no area naming the previous one; sampled on every animation frame meanwhile, the
    visible page never names the previous account beside the new one."""
    names = {a: book.name(a) for a in ("ACC-001", "ACC-002", "ACC-003", "ACC-004")}
    open_app(page, server, "/voila/render/account_explorer.ipynb", charts=4)
    wait_for_complete_switch(page, f"{names['ACC-001']} · Q3 2026", None)
    previous = names["ACC-001"]
    for account in ("ACC-002", "ACC-003", "ACC-004"):
        name = names[account]
        page.evaluate(
            """([areas, old, now]) => { window.kamMixed = 0; const run = Math.random();
                 window.kamRun = run; const tick = () => {
                 const text = Array.from(document.querySelectorAll(areas))
                   .filter(e => e.checkVisibility({visibilityProperty: true})).map(e => e.textContent).join('\\n');
                 if (text.includes(old) && text.includes(now)) window.kamMixed++;
                 if (window.kamRun === run) requestAnimationFrame(tick); }; tick(); }""",
            [EXPLORER_AREAS, previous, name],
        )
        page.locator(".kam-x-controls select").first.select_option(label=f"{name} ({account})")
        wait_for_complete_switch(page, f"{name} · Q3 2026", previous)
        assert page.evaluate("() => { window.kamRun = 0; return window.kamMixed; }") == 0
        previous = name
    page.locator(".kam-x-controls select").nth(1).select_option(label="Q2 2026")
    wait_for_complete_switch(page, f"{previous} · Q2 2026", f"{previous} · Q3 2026")


def test_portfolio_ranks_at_risk_first_and_links_each_account(page, server: Server, shots: Path, book) -> None:
    at_risk, healthy = book.at_risk, book.healthy
    open_app(page, server, "/voila/render/portfolio.ipynb")
    page.wait_for_selector(".kam-book")
    rows = page.locator(".kam-book-row")
    assert rows.count() == 12
    health = page.locator(".kam-book-row .kam-health").all_inner_texts()
    assert health == sorted(health, key=["At risk", "Watch", "Healthy"].index)
    ids = rows.evaluate_all("els => els.map(e => e.dataset.account)")
    assert ids.index(at_risk) < ids.index(healthy)
    links = page.locator(f".kam-book-row[data-account='{at_risk}'] a").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    )
    assert links == [
        f"/voila/render/account_explorer.ipynb?account_id={at_risk}&quarter=2026Q3",
        f"/voila/render/qbr.ipynb?account_id={at_risk}&quarter=2026Q3",
    ]
    no_code_no_traceback(page)
    screenshot(page, shots / "portfolio.png")


def test_qbr_page_renders_the_account_and_quarter_in_the_url(page, server: Server, shots: Path, book) -> None:
    open_app(page, server, f"/voila/render/qbr.ipynb?account_id={book.at_risk}&quarter=2026Q3", charts=7)
    header = page.locator(".kam-header").first.inner_text()
    assert book.name(book.at_risk) in header and "2026Q3" in header
    no_code_no_traceback(page)
    screenshot(page, shots / f"qbr-{book.at_risk}.png")


def test_explorer_opens_on_the_account_in_the_url(page, server: Server, book) -> None:
    open_app(page, server, f"/voila/render/account_explorer.ipynb?account_id={book.at_risk}&quarter=2026Q2", charts=4)
    header = page.locator(".kam-x-header").inner_text()
    assert book.name(book.at_risk) in header and "Q2 2026" in header


def test_unknown_account_shows_a_message_not_a_traceback(page, server: Server, shots: Path) -> None:
    open_app(page, server, "/voila/render/qbr.ipynb?account_id=ACC-999&quarter=2026Q3")
    page.wait_for_selector(".kam-notice")
    assert "There is no account ACC-999" in page.locator(".kam-notice").inner_text()
    assert page.locator(CHART).count() == 0
    no_code_no_traceback(page)
    screenshot(page, shots / "qbr-unknown-account.png")


def test_explorer_panels_and_the_what_if_slider(page, server: Server, shots: Path, book) -> None:
    at_risk = book.at_risk
    open_app(page, server, f"/voila/render/account_explorer.ipynb?account_id={at_risk}&quarter=2026Q3", charts=4)
    page.wait_for_selector(".kam-x-health-panel")
    assert "/100" in page.locator(".kam-x-health-panel .kam-x-score").inner_text()
    assert page.locator(".kam-x-drivers li").count() >= 1
    assert page.locator(".kam-x-forecast-row").count() == 4
    assert "MAPE" in page.locator(".kam-x-forecast-note").inner_text()  # accuracy shown beside the forecast
    assert page.locator(".kam-x-audit-row").count() >= 1
    cell = ".kam-x-whatif td[data-field='revenue_after']"
    before = page.locator(cell).inner_text()
    assert before == page.locator(".kam-x-whatif td[data-field='revenue_before']").inner_text()
    handle = page.locator(".kam-x-rate .noUi-handle")
    handle.focus()
    for _ in range(4):  # 4 steps of 0.5 %: rates +2 %
        page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('.kam-x-whatif').dataset.change === '+2.0'")
    assert page.locator(cell).inner_text() != before
    assert "+2.0%" in page.locator(".kam-x-whatif p").inner_text()
    page.get_by_role("button", name="Audit as Excel").click()
    link = page.locator(".kam-x-download a.kam-download").first
    link.wait_for()
    with page.expect_download() as info:
        link.click()
    assert info.value.suggested_filename == f"{at_risk}-invoice-audit-2026Q3.xlsx"
    no_code_no_traceback(page)
    page.evaluate("() => document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
    screenshot(page, shots / f"explorer-panels-{at_risk}.png")


def test_portfolio_sorts_in_place(page, server: Server, shots: Path, book) -> None:
    open_app(page, server, "/voila/render/portfolio.ipynb")
    page.wait_for_selector(".kam-book")
    first = page.locator(".kam-book-row").first.get_attribute("data-account")
    assert first in book.accounts_with_profile("at_risk")  # at risk first, by default
    assert page.locator(".kam-book-row .kam-x-book-score").count() == 12
    page.locator(".kam-x-book select").select_option(label="Revenue, largest first")
    page.wait_for_function(f"() => document.querySelector('.kam-book-row').dataset.account !== {first!r}")
    revenue_first = page.locator(".kam-book-row").first.get_attribute("data-account")
    page.locator(".kam-x-book select").select_option(label="Health score, lowest first")
    page.wait_for_function(f"() => document.querySelector('.kam-book-row').dataset.account !== {revenue_first!r}")
    scores = [int(s) for s in page.locator(".kam-book-row .kam-x-book-score").all_inner_texts()]
    assert scores == sorted(scores)
    assert page.locator(".kam-book-row").count() == 12
    no_code_no_traceback(page)
    screenshot(page, shots / "portfolio-by-health.png")


def test_a_closed_page_shuts_its_kernel_down_with_xsrf_on(browser, server: Server) -> None:
    # a context of its own: the Guard's request routing would hold back the page's unload beacon
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(180_000)
    page.goto(server.link("/"))  # the URL kam serve prints; from here on the login cookie carries the visit
    page.locator(".kam-app-card a[href='/voila/render/portfolio.ipynb']").click()
    page.wait_for_selector(".kam-book")
    kernel = page.evaluate("() => JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId")
    ask = urllib.request.Request(
        f"{server.url}/api/kernels/{kernel}", headers={"Authorization": f"token {server.token}"}
    )

    def alive() -> bool:
        try:
            with urllib.request.urlopen(ask, timeout=10):
                return True
        except urllib.error.HTTPError as e:
            assert e.code == 404, e.code
            return False

    assert alive()
    page.goto("about:blank")  # the page's unload posts the shutdown with its _xsrf cookie
    deadline = time.monotonic() + 30  # far below the 60 s idle culling that would also end it
    while alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    context.close()
    assert not alive(), "the closed page's kernel is still running: its shutdown request was refused"
