"""The analyst's JupyterLab as a user meets it: `make lab`'s JupyterLab (kam_helpers.apps.lab) on 127.0.0.1 with a
token, driven in Debian's Chromium with every request to another host blocked and recorded. qbr.ipynb runs
whole with its charts drawn and its RAG colours shown; the book of business's links open the workspace's
offline Voilà pages. Screenshots go to a temporary folder whose path is printed (``pytest -s``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_browser import CHART, Guard, chromium_available, free_port, screenshot

from kam_helpers.apps.lab import lab_command, lab_env

ROOT = Path(__file__).resolve().parents[1]
KERNEL_IDLE = (  # the notebook's kernel started (its name in the toolbar) and idle
    "() => /Python 3/.test(document.querySelector('.jp-NotebookPanel-toolbar .jp-Toolbar-kernelName')?.textContent"
    " || '') && document.querySelector('.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status') === 'idle'"
)
RAG_COLOURS = {"green": "rgb(46, 125, 50)", "amber": "rgb(249, 168, 37)", "red": "rgb(198, 40, 40)"}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not chromium_available(), reason="no Chromium (.ci/run installs it)"),
]


@dataclass
class Lab:
    """JupyterLab started as `make lab` starts it, on a copy of the notebooks (Lab saves what it runs)."""

    notebooks: Path
    workspace: Path
    home: Path
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(24))
    proc: subprocess.Popen | None = None

    def link(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}{'&' if '?' in path else '?'}token={self.token}"

    def start(self, timeout: float = 600) -> Lab:
        extra = ["--no-browser", f"--port={self.port}", "--ServerApp.port_retries=0"]
        extra += ["--allow-root"] if os.geteuid() == 0 else []  # CI containers run as root
        env = lab_env() | {
            "JUPYTER_TOKEN": self.token,
            "KAM_WORKSPACE": str(self.workspace),
            "JUPYTER_CONFIG_DIR": str(self.home / "config"),  # nothing of the machine's own Lab settings
            "JUPYTER_RUNTIME_DIR": str(self.home / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(self.home / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.home / "workspaces"),
        }
        self._log = open(self.home / "lab.log", "w")
        self.proc = subprocess.Popen(
            lab_command(self.notebooks, extra),
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout  # a hang guard: a first Lab start on a fresh machine takes > 60 s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited:\n{(self.home / 'lab.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.link("/api/status"), timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not answer:\n{(self.home / 'lab.log').read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()


@pytest.fixture(scope="module")
def lab(book, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", home / "notebooks")
    server = Lab(home / "notebooks", book.workspace, home).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lab-screenshots")
    print(f"\nscreenshots of JupyterLab: {folder}")
    return folder


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(600_000)  # a hang guard, not a speed check
    pg.on("dialog", lambda d: d.accept())  # "leave the page?" when a link leaves Lab with a notebook open
    guard = Guard()
    guard.attach(pg)
    pg.guard = guard
    yield pg
    context.close()
    assert not guard.external, f"requests to other hosts than 127.0.0.1: {guard.external}"
    tried = [e for e in guard.errors if "http://" in e.replace("http://127.0.0.1", "") or "https://" in e]
    assert not tried, f"loads from other hosts, refused by the page's policy: {tried}"


def run_notebook(page, lab: Lab, name: str) -> None:
    """Open notebooks/``name`` in Lab, wait for its kernel, run every cell and wait until none is running."""
    page.goto(lab.link(f"/lab/tree/{name}?reset"))  # reset: no tab of an earlier test restored
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    page.wait_for_function(KERNEL_IDLE)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.wait_for_function(
        "() => { const p = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')];"
        " return p.length && p.every(e => /\\[\\d+\\]/.test(e.textContent)); }"
    )
    page.wait_for_function(KERNEL_IDLE)


def test_qbr_runs_in_lab_with_charts_drawn_and_rag_colours_offline(page, lab: Lab, shots: Path) -> None:
    run_notebook(page, lab, "qbr.ipynb")
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
    assert page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").count() == 0
    charts = page.locator(".jp-RenderedVegaCommon5")
    assert charts.count() >= 4  # every chart output drawn by Lab's own Vega renderer, none from a CDN
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-RenderedVegaCommon5')]"
        f".every(e => e.querySelector('{CHART.replace('.vega-embed ', '')}'))"
    )
    card = page.locator(".kam-card.kam-red, .kam-card.kam-amber, .kam-card.kam-green").first
    rag = next(c for c in ("red", "amber", "green") if f"kam-{c}" in (card.get_attribute("class") or ""))
    assert card.evaluate("e => getComputedStyle(e).borderTopColor") == RAG_COLOURS[rag]
    badge = page.locator(".kam-scorecard .kam-rag:not(.kam-none)").first
    colour = badge.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour in RAG_COLOURS.values(), colour
    label = page.locator(".kam-scorecard td").first  # text left, numbers right
    assert label.evaluate("e => getComputedStyle(e).textAlign") == "left"
    assert page.locator(".kam-scorecard td.num").first.evaluate("e => getComputedStyle(e).textAlign") == "right"
    lab_font = page.evaluate("() => getComputedStyle(document.querySelector('.jp-LabShell')).fontFamily")
    assert lab_font != card.evaluate("e => getComputedStyle(e).fontFamily"), "our styles stay inside our outputs"
    screenshot_lab(page, shots / "qbr-lab.png")


def screenshot_lab(page, path: Path) -> None:
    """The notebook's outputs as one picture: Lab scrolls inside its panel, so grow the window to them."""
    page.locator(".jp-Notebook").first.evaluate("e => e.scrollTo(0, 0)")
    screenshot(page, path)


def test_the_book_of_business_links_open_the_offline_voila_pages(page, lab: Lab, shots: Path) -> None:
    run_notebook(page, lab, "portfolio.ipynb")
    link = page.locator(".kam-book a", has_text="QBR").first
    link.wait_for()
    assert link.evaluate("e => getComputedStyle(e).fontWeight") == "600"  # scoped styles reach the widget too
    link.click()
    page.wait_for_url("**/voila/render/qbr.ipynb**")
    page.wait_for_selector("#rendered_cells", state="visible")
    assert page.locator("body.kam-app").count() == 1  # the workspace's template, not Voilà's default
    page.wait_for_selector(CHART)
    screenshot(page, shots / "qbr-voila.png")
    page.go_back()
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    page.goto(lab.link("/voila/render/account_explorer.ipynb"))
    page.wait_for_selector("#rendered_cells", state="visible")
    page.wait_for_selector(CHART)


def test_the_analysis_tour_runs_in_lab_with_its_charts_drawn_offline(page, lab: Lab) -> None:
    run_notebook(page, lab, "analysis_tour.ipynb")
    assert page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").count() == 0
    assert page.locator(".jp-RenderedVegaCommon5").count() >= 1  # the analyst's own Altair chart, Lab's renderer
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-RenderedVegaCommon5')]"
        f".every(e => e.querySelector('{CHART.replace('.vega-embed ', '')}'))"
    )
    assert page.locator(".jp-RenderedHTMLCommon table.dataframe").count() >= 2  # the lanes and the comparison
