"""Where the analyst's workspace store is: a path given, else $KAM_WORKSPACE, else the project around the
current folder (so a notebook whose kernel starts in ``notebooks/`` finds ``data/workspace``)."""

from __future__ import annotations

import os
from pathlib import Path

from kam_helpers.core import paths
from kam_helpers.core.errors import WorkspaceError
from kam_helpers.data.store import STORE_FILE

PROJECT_MARKER = "pyproject.toml"  # the project root: the walk up from the current folder stops there
WORKSPACE_IN_PROJECT = Path("data") / "workspace"


def candidates(start: Path) -> list[Path]:
    """A folder → the workspace folders to try, in order: ``data/workspace`` of ``start`` and of each folder
    above it up to the project root (the first holding pyproject.toml), then that of the project this package
    is installed from ($KAM_HOME), for a notebook kept outside the project.

    >>> [p.as_posix() for p in candidates(Path("/nowhere/project/notebooks"))][:2]
    ['/nowhere/project/notebooks/data/workspace', '/nowhere/project/data/workspace']
    """
    found: list[Path] = []
    for folder in (start, *start.parents):
        found.append(folder / WORKSPACE_IN_PROJECT)
        if (folder / PROJECT_MARKER).exists():
            break
    installed = paths.data_dir() / "workspace"
    if installed not in found:
        found.append(installed)
    return found


def find_workspace(path: str | Path | None = None, start: Path | None = None) -> Path:
    """The workspace folder to open: ``path`` when given (the workspace folder, its kam.duckdb file, or a
    project holding data/workspace), else $KAM_WORKSPACE, else the first of :func:`candidates` from ``start``
    (default: the current folder) that holds a store. WorkspaceError saying where it looked, and how to make a
    workspace, when there is none.

    >>> find_workspace("/nowhere")
    Traceback (most recent call last):
    ...
    kam_helpers.core.errors.WorkspaceError: no workspace store (kam.duckdb) at /nowhere, /nowhere/data/workspace (the path given): run `kam sample` for the sample book or `kam import` to load your own data
    """
    if path is not None and str(path):
        given = Path(os.path.abspath(Path(path).expanduser()))  # absolute: the folder may change later
        if given.name == STORE_FILE:
            return _existing([given.parent], "the path given")
        return _existing([given, given / WORKSPACE_IN_PROJECT], "the path given")
    if os.environ.get("KAM_WORKSPACE"):
        return _existing([Path(os.path.abspath(os.environ["KAM_WORKSPACE"]))], "$KAM_WORKSPACE")
    here = (start or Path.cwd()).resolve()
    return _existing(candidates(here), f"from {here} up to the project root, then this package's project")


def _existing(folders: list[Path], how: str) -> Path:
    """The first folder holding a store; WorkspaceError listing them all (and ``how`` they were chosen)."""
    for folder in folders:
        if (folder / STORE_FILE).is_file():
            return folder
    looked = ", ".join(str(f) for f in folders)
    raise WorkspaceError(
        f"no workspace store ({STORE_FILE}) at {looked} ({how}): run `kam sample` for the sample book or "
        "`kam import` to load your own data"
    )
