"""`kam serve`: the workspace's notebooks as Voilà apps on 127.0.0.1, and the helpers the apps call in the kernel.

Server side (:func:`voila_command`, :func:`voila_env`, :func:`serve`): Voilà in server mode on ``notebooks/``
with the workspace's own template (``templates/voila/templates/kam``: no CDN, no source code, a landing
page listing the apps), pools of preheated kernels per app and idle-kernel culling. Kernels find the
workspace store through ``KAM_WORKSPACE``.

Kernel side (:func:`in_voila`, :func:`page_params`, :func:`report_or_notice`): a preheated kernel runs its
notebook *before* anyone asks for the page, so it cannot know the URL's ``?account_id=&quarter=`` at that
moment. :func:`page_params` first warms the kernel (imports, the store, the chart renderer), then waits
with Voilà's documented ``voila.utils.get_query_string()``, which blocks until the request that takes
this kernel arrives and hands over its query string. The cells after it run with the request's parameters.
Under papermill or JupyterLab it returns the notebook's parameters unchanged and prints nothing.
"""

from __future__ import annotations

import html
import os
import re
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from kam_helpers.core import paths

TEMPLATE_NAME = "kam"
VOILA_DATA_DIR = paths.TEMPLATES_DIR  # holds voila/templates/kam; put on JUPYTER_PATH for Voilà to find it
DEFAULT_PORT = 8866
HOST = "127.0.0.1"
# The apps `kam serve` lists and preheats, in landing-page order: file name → pool size of preheated kernels.
APPS: dict[str, int] = {"portfolio.ipynb": 1, "account_explorer.ipynb": 2, "qbr.ipynb": 2}
MAX_PARAM_CHARS = 64  # longer query values are ignored (ids and quarters are short)
LOCAL_HOSTNAMES = ("localhost",)  # Host names always accepted; loopback addresses (127.0.0.1, ::1) are too
IDENTITY_PROVIDER = "kam_helpers.apps.auth.TokenOnlyIdentityProvider"


# --------------------------------------------------------------------------------------------- server side


@dataclass(frozen=True)
class ServeOptions:
    """What `kam serve` starts: port, folders, kernel pools and culling."""

    port: int = DEFAULT_PORT
    workspace: Path | None = None  # the store folder (default: paths.default_workspace())
    notebooks: Path = field(default_factory=paths.notebooks_dir)
    pools: Mapping[str, int] = field(default_factory=lambda: dict(APPS))  # notebook → preheated kernels
    # Culling reaps kernels whose page went away without its shutdown request (a crashed tab, a lost network).
    # Kernels with an open page (a connection) or a preheated one (busy waiting for its request) are never
    # culled, so a short timeout only ever stops abandoned kernels.
    cull_idle_timeout: int = 60  # seconds a kernel without a page may sit idle before it is shut down
    cull_interval: int = 10  # seconds between checks for idle kernels
    fill_delay: float = 0.5  # seconds before a used pool slot is refilled (lets the visit's render go first)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)  # new for every start
    allow_hosts: tuple[str, ...] = ()  # more Host names to accept (a proxy's), besides localhost and loopback

    @property
    def url(self) -> str:
        """The address to open: the landing page with the access token."""
        return f"http://{HOST}:{int(self.port)}/?token={self.token}"


def check_host_name(name: str) -> str:
    """A Host name for --allow-host → the name, lower-cased; ConfigError unless it is a plain DNS name.

    >>> check_host_name("Reports.Example.com")
    'reports.example.com'
    """
    from kam_helpers.core.errors import ConfigError

    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", name):
        raise ConfigError(f"--allow-host {name!r}: expected a host name such as reports.example.com (no port)")
    return name.lower()


def voila_command(opts: ServeOptions, python: str = sys.executable) -> list[str]:
    """ServeOptions → the argv that starts Voilà (127.0.0.1 only, token required, Host header checked, XSRF on,
    sources stripped, preheated pools, culling). The token itself goes in the environment (:func:`voila_env`),
    not on the command line other users can read.

    >>> voila_command(ServeOptions(port=9000))[:3]  # doctest: +ELLIPSIS
    ['...', '-m', 'voila']
    """
    pools = {name: {"pool_size": int(size)} for name, size in opts.pools.items()}
    pools["default"] = {"pool_size": 0}  # other notebooks in the folder start a kernel on demand
    return [
        python,
        "-W",
        "ignore::DeprecationWarning",
        "-m",
        "voila",
        str(opts.notebooks),
        "--no-browser",
        f"--Voila.ip={HOST}",
        f"--Voila.port={int(opts.port)}",
        "--Voila.port_retries=0",
        f"--template={TEMPLATE_NAME}",
        "--theme=light",
        "--classic-tree",
        "--strip_sources=True",
        "--show_tracebacks=False",
        "--preheat_kernel=True",
        f"--pool_size={max(opts.pools.values(), default=0)}",
        f"--VoilaKernelManager.kernel_pools_config={_literal(pools)}",
        f"--VoilaKernelManager.fill_delay={opts.fill_delay}",
        f"--MappingKernelManager.cull_idle_timeout={int(opts.cull_idle_timeout)}",
        f"--MappingKernelManager.cull_interval={int(opts.cull_interval)}",
        "--MappingKernelManager.cull_connected=False",
        "--VoilaConfiguration.file_allowlist=[]",
        # Jupyter server's token check (JUPYTER_TOKEN in voila_env); without token or login cookie: 403
        "--Voila.auto_token=True",
        f"--Voila.identity_provider_class={IDENTITY_PROVIDER}",
        # Voilà turns Jupyter server's Host check off; on again: loopback addresses and these names only (a
        # DNS-rebinding page's foreign Host gets 403). XSRF checks stay on (Jupyter's default).
        # ... and every response carries the apps' Content-Security-Policy (security_headers)
        "--Voila.tornado_settings="
        + _literal(
            {
                "allow_remote_access": False,
                "local_hostnames": [*LOCAL_HOSTNAMES, *opts.allow_hosts],
                "headers": security_headers(),
            }
        ),
        # a JupyterLab-only extension (the "preview in Voilà" button) that warns on every page
        "--VoilaConfiguration.extension_denylist=['@voila-dashboards/jupyterlab-preview']",
    ]


def security_headers() -> dict[str, str]:
    """Headers for every response of `kam serve` (for Voilà's ``tornado_settings['headers']``): the apps'
    Content-Security-Policy, :data:`kam_helpers.core.safe_html.APP_CSP` (the pages also carry it as a meta tag),
    plus ``frame-ancestors``, which only a header can set."""
    from kam_helpers.core.safe_html import APP_CSP

    return {"Content-Security-Policy": f"{APP_CSP}; frame-ancestors 'self'"}


def _literal(value: object) -> str:
    """A Python literal for a traitlets command-line value (dicts and lists are parsed with literal_eval)."""
    return repr(value)


def voila_env(opts: ServeOptions, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for the Voilà process: the workspace for the kernels (KAM_WORKSPACE) and the workspace's
    template folder first on JUPYTER_PATH; nothing else changes."""
    env = dict(os.environ if base is None else base)
    workspace = Path(opts.workspace) if opts.workspace else paths.default_workspace()
    env["KAM_WORKSPACE"] = str(workspace.resolve())
    env["JUPYTER_TOKEN"] = opts.token
    jupyter_path = [str(VOILA_DATA_DIR)] + [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    env["JUPYTER_PATH"] = os.pathsep.join(jupyter_path)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def check_workspace(opts: ServeOptions) -> Path:
    """The workspace folder to serve; WorkspaceError (with what to run) when it holds no store."""
    from kam_helpers.data.store import Workspace

    folder = Path(opts.workspace) if opts.workspace else paths.default_workspace()
    Workspace.open(folder).close()
    return folder


def serve(opts: ServeOptions) -> int:
    """Run Voilà in the foreground until interrupted. Replaces this process on POSIX, so stopping `kam serve`
    stops Voilà, which shuts its kernels down."""
    folder = check_workspace(opts)
    argv, env = voila_command(opts), voila_env(opts)
    print(f"KAM Workspace apps at {opts.url}  (workspace {folder}; Ctrl-C stops)", flush=True)
    if os.name == "posix":
        os.execve(argv[0], argv, env)  # no return
    import subprocess

    try:
        return subprocess.call(argv, env=env)
    except KeyboardInterrupt:
        return 0


# --------------------------------------------------------------------------------------------- kernel side


def in_voila(environ: Mapping[str, str] | None = None) -> bool:
    """True in a kernel that Voilà started (preheated or not): Voilà sets VOILA_SERVER_URL in both."""
    env = os.environ if environ is None else environ
    return "VOILA_SERVER_URL" in env or "VOILA_PREHEAT" in env


def preheated(environ: Mapping[str, str] | None = None) -> bool:
    """True in a kernel of Voilà's preheated pool (it runs the notebook before a request takes it)."""
    env = os.environ if environ is None else environ
    return env.get("VOILA_PREHEAT") == "True"


def parse_params(query: str | None, defaults: Mapping[str, str]) -> dict[str, str]:
    """A query string → the notebook's parameters: each key of ``defaults`` takes the query's first
    non-empty value (trimmed, at most MAX_PARAM_CHARS characters); other keys are ignored.

    >>> parse_params("account_id=ACC-002&quarter=2026Q3&x=1", {"account_id": "", "quarter": ""})
    {'account_id': 'ACC-002', 'quarter': '2026Q3'}
    """
    found = parse_qs(query or "", keep_blank_values=False)
    out = dict(defaults)
    for key in defaults:
        values = [v.strip() for v in found.get(key, []) if v.strip()]
        if values and len(values[0]) <= MAX_PARAM_CHARS:
            out[key] = values[0]
    return out


def warm_up(workspace: str | Path = "") -> None:
    """Pay the one-time costs of a QBR in a preheated kernel before its visitor arrives: the chart renderer's
    first SVG (≈0.5 s) and a first report of one account, whose lazy imports and first calls cost ≈1.3 s more
    than any later one. Best effort: the page itself reports real problems."""
    import altair as alt
    import pandas as pd

    from kam_helpers.qbr import charts
    from kam_helpers.qbr.report import QbrReport

    charts.to_svg(alt.Chart(pd.DataFrame({"x": [1, 2]})).mark_bar().encode(x="x:Q"))
    try:
        report = QbrReport.load("", "", workspace)
        report.chart_svg("otd_vs_sla")
        # statsmodels' first fits in a process cost ~1 s each: take them here, not on a visitor's first switch
        from kam_helpers.analyses import forecast
        from kam_helpers.data.store import Workspace

        with Workspace.open(workspace or None) as ws:
            for account_id in ws.account_ids()[1:3]:
                forecast.forecast(ws.account_data(account_id), report.scorecard.quarter)
    except Exception:
        pass


def page_params(warm: Callable[[], Any] | None = warm_up, **defaults: str) -> dict[str, str]:
    """The notebook's parameters, overridden by the Voilà request's ``?key=value`` for the same keys.

    In a preheated Voilà kernel: runs ``warm`` first (default :func:`warm_up`, for the QBR), then blocks in
    ``voila.utils.get_query_string()`` until the page request arrives. In a Voilà kernel started for the
    request: reads QUERY_STRING at once. Elsewhere (papermill, JupyterLab): returns ``defaults``.
    """
    if not in_voila():
        return dict(defaults)
    if preheated():
        if warm is not None:
            try:
                if warm is warm_up:
                    warm_up(os.environ.get("KAM_WORKSPACE", ""))
                else:
                    warm()
            except Exception:
                pass
        from voila.utils import get_query_string

        query = get_query_string()
    else:
        query = os.environ.get("QUERY_STRING", "")
    return parse_params(query, defaults)


def app_url(notebook: str, **params: str) -> str:
    """A link from one app to another, relative to the server root: voila/render/qbr.ipynb?account_id=…"""
    query = "&".join(f"{quote(k)}={quote(str(v))}" for k, v in params.items() if v)
    return f"/voila/render/{notebook}" + (f"?{query}" if query else "")


def notice_html(exc: BaseException, account_id: str = "", quarter: str = "") -> str:
    """A KamError → the on-page message a client may see: what is wrong and where to go, no traceback and
    no server paths."""
    from kam_helpers.core.errors import ConfigError, DataValidationError, UnknownAccountError, WorkspaceError

    who = html.escape(account_id or "the account")
    if isinstance(exc, UnknownAccountError):
        title, text = "Unknown account", f"There is no account <b>{who}</b> in this workspace."
    elif isinstance(exc, ConfigError):
        title, text = (
            "Not a quarter",
            f"{html.escape(str(exc).split(': ', 1)[-1])}: <b>{html.escape(quarter)}</b> is not one.",
        )
    elif isinstance(exc, DataValidationError):
        title = "Data problems"
        text = (
            f"The report of <b>{who}</b> cannot be shown: {len(exc.problems)} row(s) of its data could not be "
            "loaded. `kam validate` lists them for the analyst."
        )
    elif isinstance(exc, WorkspaceError):
        title, text = "No workspace", "The workspace store could not be opened. Run `kam sample` or `kam import`."
    else:
        title, text = "Not available", html.escape(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return (
        f'<header class="kam-header"><div class="kam-eyebrow">Quarterly business review</div><h1>{title}</h1></header>'
        f'<div class="kam-error kam-notice">{text} '
        f'<a href="/voila/render/portfolio.ipynb">Open the book of business</a> to pick an account.</div>'
    )


class PageNotice:
    """Stands in for a report that could not be loaded on a Voilà page: ``header()`` shows the message,
    every other method shows nothing, so the notebook's later cells render empty instead of failing."""

    def __init__(self, message_html: str) -> None:
        self.message_html = message_html

    def header(self) -> Any:
        from IPython.display import HTML

        return HTML(self.message_html)

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None


def report_or_notice(
    load: Callable[..., Any], account_id: str, quarter: str, workspace: str | Path = "", *more: Any
) -> Any:
    """``load(account_id, quarter, workspace, *more)``; on a KamError under Voilà a :class:`PageNotice` instead.
    Outside Voilà the error propagates (papermill records the failing cell)."""
    from kam_helpers.core.errors import KamError

    try:
        return load(account_id, quarter, workspace, *more)
    except KamError as exc:
        if not in_voila():
            raise
        return PageNotice(notice_html(exc, account_id, quarter))
