"""Where things live, relative to the project root (overridable by environment variables)."""

from __future__ import annotations

import os
import re
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
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


# Ids that name files and folders (account_id: reports/<quarter>/<account_id>/, downloads) are data, never
# paths: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, with no '..'. Such a
# name cannot climb out of its folder, name an absolute path or hide as a dot-file. Python (is_safe_id) and
# the validation SQL (safe_id_sql) check the same rule; RE2 has no look-ahead, so '..' is a second test.
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
ID_EXPECTED = f"an id of letters, digits, '.', '_' or '-' matching ^{ID_PATTERN}$ with no '..'"


def is_safe_id(value: object) -> bool:
    """True when ``value`` is a str that may name a file or folder (:data:`ID_PATTERN`, no '..').

    >>> [is_safe_id(v) for v in ("ACC-001", "../../evil", "/etc/passwd", "ACC 01", "a..b")]
    [True, False, False, False, False]
    """
    return isinstance(value, str) and re.fullmatch(ID_PATTERN, value) is not None and ".." not in value


def inside(root: Path, name: str, folder: str = "") -> Path:
    """``root``, a name from the data (an id) and one of our own subfolders → ``root/folder/name`` resolved;
    UnsafePathError unless ``name`` is a safe id (:func:`is_safe_id`) and the result lies
    inside ``root/folder``. Every path the batch creates, replaces or deletes for an account comes from here.

    >>> inside(Path("/r"), "ACC-001", "_work").as_posix()
    '/r/_work/ACC-001'
    """
    from kam_helpers.core.errors import UnsafePathError

    if not is_safe_id(name):
        raise UnsafePathError(f"id {name!r} cannot name a folder: expected {ID_EXPECTED}")
    base = (root / folder).resolve() if folder else root.resolve()
    path = (base / name).resolve()
    if path.parent != base:
        raise UnsafePathError(f"id {name!r} would name a folder outside {base}")
    return path
