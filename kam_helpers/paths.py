"""Where things live, relative to the project root (overridable by environment variables)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
CONFIG_DIR = PACKAGE_DIR / "config"


def project_root() -> Path:
    """The workspace project: $KAM_HOME, else the checkout this package sits in."""
    return Path(os.environ.get("KAM_HOME", PROJECT_ROOT))


def notebooks_dir() -> Path:
    return project_root() / "notebooks"


def data_dir() -> Path:
    return project_root() / "data"


def default_workspace() -> Path:
    """The workspace store folder: $KAM_WORKSPACE, else data/workspace."""
    return Path(os.environ.get("KAM_WORKSPACE", data_dir() / "workspace"))


def sample_dir() -> Path:
    return data_dir() / "sample"


def reports_dir() -> Path:
    return Path(os.environ.get("KAM_REPORTS", project_root() / "reports"))


def inside(root: Path, name: str, folder: str = "") -> Path:
    """``root``, a name from the data (an id) and one of our own subfolders → ``root/folder/name`` resolved;
    UnsafePathError unless ``name`` is a safe id (:func:`kam_helpers.schema.is_safe_id`) and the result lies
    inside ``root/folder``. Every path the batch creates, replaces or deletes for an account comes from here.

    >>> inside(Path("/r"), "ACC-001", "_work").as_posix()
    '/r/_work/ACC-001'
    """
    from .errors import UnsafePathError
    from .schema import ID_EXPECTED, is_safe_id

    if not is_safe_id(name):
        raise UnsafePathError(f"id {name!r} cannot name a folder: expected {ID_EXPECTED}")
    base = (root / folder).resolve() if folder else root.resolve()
    path = (base / name).resolve()
    if path.parent != base:
        raise UnsafePathError(f"id {name!r} would name a folder outside {base}")
    return path
