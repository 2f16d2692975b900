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
