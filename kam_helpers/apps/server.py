"""`kam serve`: the workspace's notebooks as Voilà apps on 127.0.0.1 (the launcher; the pages' own side, in the
kernel, is :mod:`kam_helpers.apps.page`).

:func:`voila_command`, :func:`voila_env`, :func:`serve`: Voilà in server mode on ``notebooks/`` with the
workspace's own template (``templates/voila/templates/kam``: no CDN, no source code, a landing page listing the
apps), pools of preheated kernels per app that fill in :data:`FILL_ORDER` (:mod:`kam_helpers.apps.kernel_pools`,
run through :mod:`kam_helpers.apps.voila_main`, which prints the URL once the first kernel of every pool is
warm) and idle-kernel culling. Kernels find the workspace store through ``KAM_WORKSPACE``.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kam_helpers.core import paths

TEMPLATE_NAME = "kam"
VOILA_DATA_DIR = paths.TEMPLATES_DIR  # holds voila/templates/kam; put on JUPYTER_PATH for Voilà to find it
DEFAULT_PORT = 8866
HOST = "127.0.0.1"
# The apps `kam serve` lists and preheats, in landing-page order: file name → pool size of preheated kernels.
APPS: dict[str, int] = {"portfolio.ipynb": 1, "account_explorer.ipynb": 2, "qbr.ipynb": 2}
# The order pools fill in: every app's first kernel in this order, then the second kernels in the same order.
FILL_ORDER = ("account_explorer.ipynb", "qbr.ipynb", "portfolio.ipynb")
WARM_SLOTS = 1  # pool kernels warming up at the same time (the rest wait their turn; kam serve --warm-slots)
READY_PREFIX = "KAM Workspace apps ready at"  # the line with the URL, printed once the apps can serve
LOCAL_HOSTNAMES = ("localhost",)  # Host names always accepted; loopback addresses (127.0.0.1, ::1) are too
IDENTITY_PROVIDER = "kam_helpers.apps.auth.TokenOnlyIdentityProvider"
VOILA_MAIN = "kam_helpers.apps.voila_main"  # Voilà with the workspace's pool manager


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
    warm_slots: int = WARM_SLOTS
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)  # new for every start
    allow_hosts: tuple[str, ...] = ()  # more Host names to accept (a proxy's), besides localhost and loopback

    @property
    def url(self) -> str:
        """The address to open: the landing page with the access token."""
        return landing_url(self.port, self.token)


def landing_url(port: int, token: str) -> str:
    """The landing page's address with the access token.

    >>> landing_url(9000, "abc")
    'http://127.0.0.1:9000/?token=abc'
    """
    return f"http://{HOST}:{int(port)}/?token={token}"


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

    >>> voila_command(ServeOptions(port=9000))[3:5]
    ['-m', 'kam_helpers.apps.voila_main']
    """
    pools = {name: {"pool_size": int(size)} for name, size in opts.pools.items()}
    pools["default"] = {"pool_size": 0}  # other notebooks in the folder start a kernel on demand
    return [
        python,
        "-W",
        "ignore::DeprecationWarning",
        "-m",
        VOILA_MAIN,
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
        *(f"--KamKernelManager.fill_order={name}" for name in FILL_ORDER),  # a list: one item per option
        f"--KamKernelManager.warm_slots={int(opts.warm_slots)}",
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
    env.setdefault("PYTHONUNBUFFERED", "1")
    return with_voila_templates(env)


def with_voila_templates(env: dict[str, str]) -> dict[str, str]:
    """An environment → itself with the workspace's template folder first on JUPYTER_PATH (Voilà finds ``kam``)."""
    env["JUPYTER_PATH"] = os.pathsep.join(
        [str(VOILA_DATA_DIR)] + [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    )
    return env


def check_workspace(opts: ServeOptions) -> Path:
    """The workspace folder to serve; WorkspaceError (with what to run) when it holds no store."""
    from kam_helpers.data.store import Workspace

    folder = Path(opts.workspace) if opts.workspace else paths.default_workspace()
    Workspace.open(folder).close()
    return folder


def starting_line(opts: ServeOptions, workspace: Path) -> str:
    """What `kam serve` says as it starts: where, which pools warm up (in the order they fill), that the URL follows.

    >>> starting_line(ServeOptions(port=9000, pools={"qbr.ipynb": 2}), Path("ws"))  # doctest: +ELLIPSIS
    'KAM Workspace starting on 127.0.0.1:9000 (workspace ws): warming qbr.ipynb (2 kernels); the URL follows...'
    """
    pools = sorted(
        ((name, size) for name, size in opts.pools.items() if size > 0),
        key=lambda pool: FILL_ORDER.index(pool[0]) if pool[0] in FILL_ORDER else len(FILL_ORDER),
    )
    warming = ", ".join(f"{name} ({size} kernel{'s' if size > 1 else ''})" for name, size in pools) or "no kernels"
    return (
        f"KAM Workspace starting on {HOST}:{int(opts.port)} (workspace {workspace}): warming {warming}; "
        "the URL follows when the first kernel of each app can serve"
    )


def serve(opts: ServeOptions) -> int:
    """Run Voilà in the foreground until interrupted. Replaces this process on POSIX, so stopping `kam serve`
    stops Voilà, which shuts its kernels down. Says first that it starts; Voilà prints the URL
    (:data:`READY_PREFIX`) once the first kernel of every pool is warm."""
    folder = check_workspace(opts)
    argv, env = voila_command(opts), voila_env(opts)
    print(starting_line(opts, folder), flush=True)
    if os.name == "posix":
        os.execve(argv[0], argv, env)  # no return
    import subprocess

    try:
        return subprocess.call(argv, env=env)
    except KeyboardInterrupt:
        return 0
