"""`make lab`: JupyterLab on ``notebooks/``, on 127.0.0.1 with a token, whose Voilà pages use the workspace's
offline template.

The book of business links each account to its explorer and QBR page (``/voila/render/…``). Opened from
JupyterLab, Voilà's server extension renders them, by default with Voilà's own template, which requests Font
Awesome and MathJax from CDNs. Here it is told to use the workspace's template (``kam``, found on JUPYTER_PATH
as :mod:`kam_helpers.apps.server` finds it): the same pages as `kam serve`, nothing loaded from a network.

    python -m kam_helpers.apps.lab [NOTEBOOKS] [JUPYTER LAB OPTIONS...]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from kam_helpers.apps.server import HOST, TEMPLATE_NAME, with_voila_templates
from kam_helpers.core import paths

# Nothing fetched from the internet: no news feed, no update check, no extension search on PyPI (the
# environment is exactly requirements.lock; extensions come with it).
OFFLINE_OPTIONS = (
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--LabApp.extension_manager=readonly",
    # Voilà's pages load MathJax 2 from a CDN unless the server names neither its URL nor its config (as kam serve)
    "--ServerApp.tornado_settings={'mathjax_url': None, 'mathjax_config': None}",
)
VOILA_OPTIONS = (
    f"--VoilaConfiguration.template={TEMPLATE_NAME}",
    "--VoilaConfiguration.theme=light",
    "--VoilaConfiguration.strip_sources=True",
    "--VoilaConfiguration.show_tracebacks=False",
    # the preview extension is JupyterLab's, not a page's (kam serve leaves it out too)
    "--VoilaConfiguration.extension_denylist=['@voila-dashboards/jupyterlab-preview']",
)


def lab_command(notebooks: Path, extra: Sequence[str] = ()) -> list[str]:
    """Notebooks folder (and more `jupyter lab` options) → the command line: JupyterLab on 127.0.0.1 (its own
    random token, as `jupyter lab` makes by default), nothing fetched from the internet, the Voilà options above."""
    return [
        sys.executable,
        "-m",
        "jupyterlab",
        str(notebooks),
        f"--ServerApp.ip={HOST}",
        *OFFLINE_OPTIONS,
        *VOILA_OPTIONS,
        *extra,
    ]


def lab_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for JupyterLab: the workspace's template folder first on JUPYTER_PATH."""
    return with_voila_templates(dict(os.environ if base is None else base))


def main(argv: Sequence[str] | None = None) -> None:
    """Replace this process by JupyterLab (stopping it stops its kernels)."""
    args = list(sys.argv[1:] if argv is None else argv)
    notebooks = Path(args.pop(0)) if args and not args[0].startswith("-") else paths.notebooks_dir()
    command = lab_command(notebooks, args)
    os.execve(command[0], command, lab_env())


if __name__ == "__main__":
    main()
