"""KAM Workspace: the package behind the notebooks.

The pipeline, one module each: sources (read exports) → validate → store → metrics (scorecard) →
narrative → charts → report / render (HTML) → batch (papermill per account) → cli (`kam`).

For analysts: ``import kam_helpers as kam; ws = kam.open()`` (:mod:`kam_helpers.api`, docs/API.md).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from kam_helpers.qbr.renderer import set_up_kernel as _set_up_kernel

_set_up_kernel()  # in a Jupyter kernel: offline charts in the workspace's theme

# The analyst's API, imported on first use (PEP 562): `import kam_helpers.core.x` in the CLI and the batch
# workers must not pull in pandas and DuckDB through this file.
_API_NAMES = ("open", "Workspace", "Account", "write_excel")


def __getattr__(name: str) -> Any:
    if name in _API_NAMES:
        from kam_helpers import api

        return getattr(api, name)
    raise AttributeError(f"module 'kam_helpers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API_NAMES])
