"""`kam serve` without a browser: the Voilà command line, the kernels' environment, URL parameters and the
on-page notices of the QBR."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_browser import Server

from kam_helpers.apps import page as voila_page
from kam_helpers.apps import server as serve
from kam_helpers.cli import build_parser
from kam_helpers.core.errors import ConfigError, UnknownAccountError

ROOT = Path(__file__).resolve().parents[1]


def test_voila_command_is_local_preheated_culled_and_hides_code(tmp_path: Path) -> None:
    argv = serve.voila_command(serve.ServeOptions(port=9123, notebooks=tmp_path))
    joined = " ".join(argv)
    assert argv[argv.index(serve.VOILA_MAIN) + 1] == str(tmp_path)
    for flag in (
        "--Voila.ip=127.0.0.1",
        "--Voila.port=9123",
        "--no-browser",
        "--strip_sources=True",
        "--show_tracebacks=False",
        "--preheat_kernel=True",
        "--template=kam",
        "--MappingKernelManager.cull_idle_timeout=60",
        "--MappingKernelManager.cull_interval=10",
        "--MappingKernelManager.cull_connected=False",
    ):
        assert flag in argv, flag
    assert "'qbr.ipynb': {'pool_size': 2}" in joined and "'default': {'pool_size': 0}" in joined
    order = [a.split("=", 1)[1] for a in argv if a.startswith("--KamKernelManager.fill_order=")]
    assert order == ["account_explorer.ipynb", "qbr.ipynb", "portfolio.ipynb"] and set(order) == set(serve.APPS)
    assert "--KamKernelManager.warm_slots=1" in argv


def test_the_starting_line_names_the_pools_in_the_order_they_fill(tmp_path: Path) -> None:
    line = serve.starting_line(serve.ServeOptions(port=9000), tmp_path)
    assert line.index("account_explorer.ipynb (2 kernels)") < line.index("qbr.ipynb") < line.index("portfolio")
    assert "9000" in line and "token" not in line


def test_voila_command_requires_a_token_checks_the_host_and_keeps_xsrf_on(tmp_path: Path) -> None:
    opts = serve.ServeOptions(notebooks=tmp_path, allow_hosts=("reports.example",))
    argv = serve.voila_command(opts)
    joined = " ".join(argv)
    assert f"--Voila.identity_provider_class={serve.IDENTITY_PROVIDER}" in argv and "--Voila.auto_token=True" in argv
    assert "'allow_remote_access': False" in joined and "'local_hostnames': ['localhost', 'reports.example']" in joined
    assert "xsrf" not in joined
    assert opts.token not in joined  # other users of the machine can read a command line
    assert serve.voila_env(opts, base={})["JUPYTER_TOKEN"] == opts.token
    assert opts.url == f"http://127.0.0.1:8866/?token={opts.token}" and opts.token not in repr(opts)


def test_every_start_gets_its_own_token() -> None:
    tokens = {serve.ServeOptions().token for _ in range(5)}
    assert len(tokens) == 5 and all(len(t) >= 40 for t in tokens)


@pytest.mark.parametrize("name", ["evil.example:80", "a/b", "", "-x", "*.example"])
def test_allow_host_refuses_what_is_not_a_host_name(name: str) -> None:
    with pytest.raises(ConfigError, match="--allow-host"):
        serve.check_host_name(name)


def test_voila_env_passes_the_workspace_and_the_template(tmp_path: Path) -> None:
    env = serve.voila_env(serve.ServeOptions(workspace=tmp_path), base={"JUPYTER_PATH": "/x"})
    assert env["KAM_WORKSPACE"] == str(tmp_path.resolve())
    first, rest = env["JUPYTER_PATH"].split(":", 1)
    assert (Path(first) / "voila" / "templates" / "kam" / "conf.json").exists() and rest == "/x"


def test_template_loads_nothing_from_a_network() -> None:
    folder = serve.VOILA_DATA_DIR / "voila" / "templates" / "kam"
    for path in folder.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "http://" not in text and "https://" not in text and "//cdn" not in text, path
    assert json.loads((folder / "conf.json").read_text())["base_template"] == "lab"


def test_every_app_exists_and_is_thin() -> None:
    for name in serve.APPS:
        nb = json.loads((ROOT / "notebooks" / name).read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert "parameters" in code[0]["metadata"].get("tags", [])
        assert all(c.get("id") for c in nb["cells"])
        assert all(not c["outputs"] and c["execution_count"] is None for c in code)


def test_cli_parses_serve() -> None:
    args = build_parser().parse_args(["serve", "--port", "9000", "--workspace", "ws"])
    assert (args.port, args.workspace, args.func.__name__) == (9000, "ws", "_cmd_serve")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"account_id": "", "quarter": ""}),
        ("account_id=ACC-002&quarter=2026Q3", {"account_id": "ACC-002", "quarter": "2026Q3"}),
        ("account_id=&quarter=2026Q2&evil=1", {"account_id": "", "quarter": "2026Q2"}),
        ("account_id=" + "x" * 100, {"account_id": "", "quarter": ""}),
        ("account_id=%20ACC-003%20&account_id=ACC-004", {"account_id": "ACC-003", "quarter": ""}),
    ],
)
def test_parse_params(query: str, expected: dict) -> None:
    assert voila_page.parse_params(query, {"account_id": "", "quarter": ""}) == expected


def test_page_params_outside_voila_returns_the_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("VOILA_SERVER_URL", "VOILA_PREHEAT", "QUERY_STRING"):
        monkeypatch.delenv(var, raising=False)
    assert voila_page.page_params(account_id="A", quarter="") == {"account_id": "A", "quarter": ""}


def test_page_params_in_a_request_kernel_reads_the_query(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOILA_SERVER_URL", "/")
    monkeypatch.setenv("VOILA_PREHEAT", "False")
    monkeypatch.setenv("QUERY_STRING", "account_id=ACC-002")
    assert voila_page.page_params(account_id="", quarter="") == {"account_id": "ACC-002", "quarter": ""}


@pytest.mark.parametrize(("visit_waiting", "warmed"), [("", True), ("1", False)])
def test_a_preheated_kernel_warms_up_unless_a_visit_already_waits(
    monkeypatch: pytest.MonkeyPatch, visit_waiting: str, warmed: bool
) -> None:
    import voila.utils

    monkeypatch.setenv("VOILA_PREHEAT", "True")
    monkeypatch.setenv(voila_page.VISIT_WAITING, visit_waiting)
    monkeypatch.setattr(voila.utils, "get_query_string", lambda: "account_id=ACC-002")
    calls: list[str] = []
    params = voila_page.page_params(warm=lambda: calls.append("warm"), account_id="", quarter="")
    assert params == {"account_id": "ACC-002", "quarter": ""} and (calls == ["warm"]) is warmed


def test_report_or_notice_raises_outside_voila_and_explains_inside(monkeypatch: pytest.MonkeyPatch) -> None:
    def load(account_id: str, quarter: str, workspace: str) -> None:
        raise UnknownAccountError(f"account {account_id!r} is not in the workspace /some/path")

    monkeypatch.delenv("VOILA_SERVER_URL", raising=False)
    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    with pytest.raises(UnknownAccountError):
        voila_page.report_or_notice(load, "ACC-9", "", "")
    monkeypatch.setenv("VOILA_SERVER_URL", "/")
    page = voila_page.report_or_notice(load, "<i>ACC-9</i>", "", "")
    message = page.header().data
    assert "&lt;i&gt;ACC-9" in message and "/some/path" not in message and "Traceback" not in message
    assert page.kpi_cards() is None and page.chart("x") is None and page.action_items() is None
    with pytest.raises(AttributeError):  # a misspelt method fails on the notice as on the report
        page.kpi_card()


def test_a_qbr_page_sends_its_charts_as_vega_lite_without_making_svg(monkeypatch: pytest.MonkeyPatch) -> None:
    import altair as alt
    import pandas as pd

    class Report:
        title = "kept"

        def chart_object(self, name: str):
            return None if name == "missing" else alt.Chart(pd.DataFrame({"x": [1]})).mark_bar().encode(x="x:Q")

        def chart_svg(self, name: str) -> str:
            raise AssertionError("a page does not need the SVG")

        def chart(self, name: str) -> str:
            assert self.chart_object(name) is None
            return "note"

    monkeypatch.setenv("VOILA_SERVER_URL", "/")
    page = voila_page.report_or_notice(lambda *args: Report(), "ACC-1", "")
    bundle = page.chart("otd_vs_sla")._repr_mimebundle_()
    assert any(m.startswith("application/vnd.vegalite.") for m in bundle) and "image/svg+xml" not in bundle
    assert page.chart("missing") == "note" and page.title == "kept"
    monkeypatch.delenv("VOILA_SERVER_URL")
    assert isinstance(voila_page.report_or_notice(lambda *args: Report(), "ACC-1", ""), Report)


def test_the_notice_answers_every_report_method_the_qbr_notebook_calls() -> None:
    """PageNotice is strict, so it must know each QbrReport method that qbr.ipynb calls after loading."""
    import re

    import nbformat

    from kam_helpers.core.paths import notebooks_dir
    from kam_helpers.qbr.report import QbrReport

    nb = nbformat.read(notebooks_dir() / "qbr.ipynb", as_version=4)
    called = {m for cell in nb.cells for m in re.findall(r"\bqbr\.(\w+)\(", cell.source)}
    assert called and "header" in called
    for name in called:
        assert callable(getattr(QbrReport, name)), name
        assert callable(getattr(voila_page.PageNotice, name)), f"PageNotice has no {name}()"


def test_notice_for_a_bad_quarter() -> None:
    text = voila_page.notice_html(ConfigError("quarter '2026Q9': expected a quarter like 2026Q3"), "ACC-1", "2026Q9")
    assert "2026Q9" in text and "expected a quarter like 2026Q3" in text


# --------------------------------------------------------------------------- a real server, without a browser
# (marked with the browser tests, the other kind that starts a real Voilà server: `make test-fast` skips them)


@pytest.fixture(scope="module")
def locked(book, tmp_path_factory: pytest.TempPathFactory):
    srv = Server(
        book.workspace,
        tmp_path_factory.mktemp("serve") / "kam-serve.log",
        extra=["--pool-size", "0", "--allow-host", "reports.example"],
    ).start()
    yield srv
    srv.stop()


def _status(url: str, opener: urllib.request.OpenerDirector | None = None, **headers: str) -> int:
    request = urllib.request.Request(url, headers=headers)
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.mark.browser
def test_it_says_it_starts_then_prints_the_url_with_a_fresh_token(locked: Server) -> None:
    lines = locked.log.read_text().splitlines()
    assert lines[0].startswith("KAM Workspace starting on 127.0.0.1:") and locked.token not in lines[0]
    ready = [line for line in lines if line.startswith(serve.READY_PREFIX)]
    assert len(ready) == 1
    assert re.search(rf"ready at http://127\.0\.0\.1:{locked.port}/\?token={re.escape(locked.token)}\s", ready[0])


@pytest.mark.parametrize(
    "path", ["/", "/voila/render/qbr.ipynb?account_id=ACC-002", "/api/kernels/00000000-0000-0000-0000-000000000000"]
)
def test_without_the_token_every_page_is_403(locked: Server, path: str) -> None:
    assert _status(locked.url + path) == 403
    assert _status(locked.url + path + ("&" if "?" in path else "?") + "token=wrong") == 403


@pytest.mark.browser
def test_a_foreign_host_header_is_403_even_with_the_token(locked: Server) -> None:
    assert _status(locked.link("/"), Host="evil.example") == 403
    assert _status(locked.link("/"), Host=f"evil.example:{locked.port}") == 403
    assert _status(locked.link("/"), Host=f"localhost:{locked.port}") == 200
    assert _status(locked.link("/"), Host="reports.example") == 200  # --allow-host


@pytest.mark.browser
def test_token_then_cookie_and_xsrf_guards_the_kernel_shutdown(locked: Server) -> None:
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with browser.open(locked.link("/voila/render/portfolio.ipynb"), timeout=120) as r:
        assert r.status == 200
        kernel = re.search(r'"kernelId": "([0-9a-f-]+)"', r.read().decode()).group(1)
    cookies = {c.name: c.value for c in jar}
    assert "_xsrf" in cookies  # the page that closes must have it to send
    kernel_url = f"{locked.url}/api/kernels/{kernel}"
    assert _status(kernel_url, browser) == 200  # the login cookie stands in for the token
    shutdown = f"{locked.url}/voila/api/shutdown/{kernel}"

    def post(xsrf: str) -> int:
        body = f"_xsrf={xsrf}".encode()
        request = urllib.request.Request(shutdown, data=body, headers={"Origin": locked.url}, method="POST")
        try:
            with browser.open(request, timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    assert post("") == 403  # a cross-site form cannot read the cookie
    assert _status(kernel_url, browser) == 200
    assert post(urllib.request.quote(cookies["_xsrf"])) == 204  # what Voilà's page sends when it closes
    assert _status(kernel_url, browser) == 404


# ------------------------------------------------------------------- `kam serve` with its pools: ready means ready


@pytest.fixture(scope="module")
def voila_server(book, tmp_path_factory: pytest.TempPathFactory):
    """`kam serve` with its default pools, started: it printed its ready line."""
    srv = Server(book.workspace, tmp_path_factory.mktemp("serve") / "kam-serve.log").start()
    yield srv
    srv.stop()


def _pool_events(log: str) -> list[tuple[str, str, str]]:
    """The log → (event, notebook, kernel id) for each kernel that started warming up or ended its warm-up."""
    return [
        (m["event"], m["notebook"], m["kernel"])
        for m in re.finditer(
            r"(?P<event>Warming|Warm|Not warmed) (?P<notebook>\S+\.ipynb)\W+kernel (?P<kernel>[0-9a-f-]{36})", log
        )
    ]


@pytest.mark.browser
def test_the_url_comes_once_the_first_kernel_of_every_pool_is_warm(voila_server: Server) -> None:
    log = voila_server.log.read_text()
    before_ready = log[: log.index(serve.READY_PREFIX)]
    events = _pool_events(before_ready)
    warm = {notebook: kernel for event, notebook, kernel in events if event == "Warm"}
    assert set(warm) == set(serve.APPS)  # each app's first kernel waits for its visit...
    started = [notebook for event, notebook, _ in events if event == "Warming"]
    assert started[: len(serve.FILL_ORDER)] == list(serve.FILL_ORDER)  # ... filled in priority order
    warming = 0
    for event, _, _ in _pool_events(log):  # never more than the slots at a time, before and after the URL
        warming += 1 if event == "Warming" else -1
        assert warming <= serve.WARM_SLOTS


@pytest.mark.browser
def test_a_first_visit_after_ready_takes_a_warm_kernel(voila_server: Server) -> None:
    log = voila_server.log.read_text()
    warm_before_ready = {k for e, _, k in _pool_events(log[: log.index(serve.READY_PREFIX)]) if e == "Warm"}
    with urllib.request.urlopen(voila_server.link("/voila/render/account_explorer.ipynb"), timeout=600) as r:
        assert r.status == 200 and "widget-view" in r.read().decode()
    used = re.findall(
        r"Using pre-heated kernel: ([0-9a-f-]{36}) for account_explorer\.ipynb", voila_server.log.read_text()
    )
    assert len(used) == 1 and used[0] in warm_before_ready
