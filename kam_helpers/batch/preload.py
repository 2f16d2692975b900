"""The worker side's fixed costs, paid once per batch instead of once per worker: importing this module does them.

``local_executor`` names this module as multiprocessing's forkserver preload: the forkserver, started by the
driver before it scans the workspace (so the two overlap), imports papermill, nbclient and nbconvert, builds the
HTML exporter and runs a first export (its templates compile on first use, ~1 s), then forks every worker from
that state. A worker started another way (spawn, a Dask worker) imports this module in its initializer instead.
Nothing here starts a thread, a kernel or an event loop: forking a process that has run papermill can hang.
"""

from __future__ import annotations

import sys


def warm_worker_side() -> None:
    """Import what a worker runs each account with and make the first HTML export, on a notebook of no client."""
    import jupyter_client.manager  # noqa: F401
    import nbclient  # noqa: F401
    import nbformat
    import papermill  # noqa: F401

    from kam_helpers.batch import kernels
    from kam_helpers.exports.html import notebook_to_html

    kernels.register()
    notebook_to_html(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("warm-up")]), title="warm-up")


try:
    warm_worker_side()
except Exception as exc:  # the forkserver must start whatever happens: each worker then pays for this itself
    print(f"kam batch: worker preload failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
