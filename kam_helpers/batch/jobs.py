"""What the batch hands its workers and gets back: :class:`Job`, :class:`AccountResult`, :class:`BatchResult`,
and the names of the files and folders a run writes under ``reports/<quarter>/``.

Every folder named after an account id is checked to lie inside the output folder first
(:func:`kam_helpers.core.paths.inside`): one bad id is that account's failure, never a write elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kam_helpers.core import paths
from kam_helpers.exports.formats import ALL_FORMATS

NOTEBOOK = "qbr.ipynb"
FAILED_DIR = "_failed"
WORK_DIR = "_work"
PACK = "pack"  # _work/<id>/pack: the new pack, complete before it is swapped in
OLD = "old"  # _work/<id>/old: the previous pack, for the moment of the swap
HEADLINE = "headline.json"  # _work/<id>/headline.json: the notebook's headline for the manifest, never published
# Parameters that hold this machine's paths: the published notebook does not carry them.
PATH_PARAMETERS = ("workspace", "reports_dir", "pack_dir", "pack_template", "headline_path")


@dataclass(frozen=True)
class Job:
    """One account's report run: everything a worker needs, as plain picklable values."""

    account_id: str
    quarter: str
    workspace: str
    notebook: str
    out_dir: str  # reports/<quarter>
    fingerprint: str
    engine: str = "kam-warm"
    formats: tuple[str, ...] = ALL_FORMATS
    template: str = ""  # company PowerPoint template for the deck ('' = the default)
    as_of: str = ""  # the date the data is judged at ('' = the data's newest event)
    publish_to: str = ""  # an fsspec URL the pack is published to from a staging out_dir ('' = out_dir is final)


@dataclass
class AccountResult:
    """What happened to one account: the manifest's entry."""

    account_id: str
    status: str  # "ok" or "failed"
    seconds: float
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    failed_cell: dict | None = None
    kpis: dict = field(default_factory=dict)
    action_items: list[dict] | None = None  # the QBR's action items: the next quarter's QBR follows them up
    name: str | None = None
    fingerprint: str = ""
    skipped: bool = False  # True when the report was current and not rendered again
    worker: tuple[int, int] | None = None  # (process id, n): the n-th account that worker process rendered
    attempts: int = 1  # attempts that started (more than 1: retried after a worker died or a task raised)


@dataclass(frozen=True)
class BatchResult:
    quarter: str
    results: list[AccountResult]
    manifest: Path
    index: Path
    seconds: float

    @property
    def failed(self) -> list[AccountResult]:
        return [r for r in self.results if r.status != "ok"]


def account_folders(out: Path, account_id: str) -> tuple[Path, Path, Path]:
    """An account's (pack, work, failed) folders: ``out/<id>``, ``out/_work/<id>``, ``out/_failed/<id>``;
    UnsafePathError when the id is not a safe name or any of them would lie outside its folder of ``out``."""
    return (
        paths.inside(out, account_id),
        paths.inside(out, account_id, WORK_DIR),
        paths.inside(out, account_id, FAILED_DIR),
    )
