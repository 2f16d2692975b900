"""`kam serve` without a browser: the Voilà command line, the kernels' environment, URL parameters and the
on-page notices of the QBR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kam_helpers import serve
from kam_helpers.cli import build_parser
from kam_helpers.errors import ConfigError, UnknownAccountError

ROOT = Path(__file__).resolve().parents[1]


def test_voila_command_is_local_preheated_culled_and_hides_code(tmp_path: Path) -> None:
    argv = serve.voila_command(serve.ServeOptions(port=9123, notebooks=tmp_path))
    joined = " ".join(argv)
    assert argv[argv.index("voila") + 1] == str(tmp_path)
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
    assert serve.parse_params(query, {"account_id": "", "quarter": ""}) == expected


def test_page_params_outside_voila_returns_the_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("VOILA_SERVER_URL", "VOILA_PREHEAT", "QUERY_STRING"):
        monkeypatch.delenv(var, raising=False)
    assert serve.page_params(account_id="A", quarter="") == {"account_id": "A", "quarter": ""}


def test_page_params_in_a_request_kernel_reads_the_query(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOILA_SERVER_URL", "/")
    monkeypatch.setenv("VOILA_PREHEAT", "False")
    monkeypatch.setenv("QUERY_STRING", "account_id=ACC-002")
    assert serve.page_params(account_id="", quarter="") == {"account_id": "ACC-002", "quarter": ""}


def test_report_or_notice_raises_outside_voila_and_explains_inside(monkeypatch: pytest.MonkeyPatch) -> None:
    def load(account_id: str, quarter: str, workspace: str) -> None:
        raise UnknownAccountError(f"account {account_id!r} is not in the workspace /some/path")

    monkeypatch.delenv("VOILA_SERVER_URL", raising=False)
    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    with pytest.raises(UnknownAccountError):
        serve.report_or_notice(load, "ACC-9", "", "")
    monkeypatch.setenv("VOILA_SERVER_URL", "/")
    page = serve.report_or_notice(load, "<i>ACC-9</i>", "", "")
    message = page.header().data
    assert "&lt;i&gt;ACC-9" in message and "/some/path" not in message and "Traceback" not in message
    assert page.kpi_cards() is None and page.chart("x") is None and page.publish() is None


def test_notice_for_a_bad_quarter() -> None:
    text = serve.notice_html(ConfigError("quarter '2026Q9': expected a quarter like 2026Q3"), "ACC-1", "2026Q9")
    assert "2026Q9" in text and "expected a quarter like 2026Q3" in text
