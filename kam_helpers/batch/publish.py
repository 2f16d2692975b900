"""Reports written to an fsspec URL (``kam qbr --out s3://bucket/reports/2026Q3``): every worker publishes its own.

A path or a ``file://`` URL is a folder of this machine (or a shared mount): the batch writes there as it always
does. Any other URL (``s3://``, ``gcs://``, ...; its fsspec package installed) is reached through fsspec:

- a worker renders the account into a staging folder of its own machine, exactly as into a local ``--out``,
  with the previous quarter's manifest fetched beside it (its action items are followed up), then publishes:
  the pack is uploaded under ``_work/`` and moved into place (a rename where the filesystem has one, a copy
  of complete objects on object storage), the previous pack removed only once the new one is complete; a
  failed account's notebook goes to ``_failed/<id>/`` and its last good pack stays;
- the driver reads the previous manifest and checks the outputs there (skip-unchanged), and uploads the
  manifest (after each account) and the index the same way: temporary name, then moved into place.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from kam_helpers.batch.jobs import FAILED_DIR, NOTEBOOK, WORK_DIR, AccountResult, Job
from kam_helpers.batch.worker import render_account
from kam_helpers.core.errors import KamError
from kam_helpers.core.files import write_atomic
from kam_helpers.core.quarters import Quarter

MANIFEST = "manifest.json"


def is_remote(out: object) -> bool:
    """True when ``out`` is a URL other than ``file://`` (written through fsspec)."""
    text = str(out or "")
    return "://" in text and not text.startswith("file://")


def local_path(out: str | Path) -> Path:
    """A path or ``file://`` URL → the local path."""
    text = str(out)
    return Path(text[len("file://") :]) if text.startswith("file://") else Path(text)


class Target:
    """An fsspec URL the batch writes its quarter folder to."""

    def __init__(self, url: str) -> None:
        import fsspec

        self.url = url.rstrip("/")
        self.fs: Any
        self.fs, self.root = fsspec.core.url_to_fs(self.url)

    def path(self, *parts: str) -> str:
        """Relative parts → their URL path under the target; KamError for a part that could leave it
        (``..``, an absolute or empty step, a backslash): names come from account ids, which are data."""
        steps = [step for part in parts for step in part.split("/")]
        if any(step in ("", ".", "..") or "\\" in step for step in steps) or any(p.startswith("/") for p in parts):
            raise KamError(f"{'/'.join(parts)!r}: not a name inside the output folder {self.url}")
        return "/".join([self.root, *parts])

    def exists(self, relative: str) -> bool:
        return bool(self.fs.exists(self.path(relative)))

    def read_text(self, relative: str) -> str | None:
        """The text of ``relative`` under the target, None when there is no such file."""
        try:
            return self.fs.cat_file(self.path(relative)).decode("utf-8")
        except FileNotFoundError:
            return None

    def put_file(self, local: Path, relative: str) -> None:
        """Upload ``local`` to ``relative`` under a temporary name, then move it into place."""
        final = self.path(relative)
        temp = self.path(WORK_DIR, f".{uuid.uuid4().hex}-{local.name}")
        self.fs.makedirs(self.path(WORK_DIR), exist_ok=True)
        self.fs.put_file(str(local), temp)
        self.fs.mv(temp, final)

    def put_folder(self, local: Path, relative: str) -> None:
        """Upload the folder ``local`` to ``relative`` as a whole: complete under ``_work/`` first, then moved
        into place, the previous folder removed just before."""
        final = self.path(relative)
        temp = self.path(WORK_DIR, f"{Path(relative).name}-{uuid.uuid4().hex}")
        self.fs.makedirs(self.path(WORK_DIR), exist_ok=True)
        self.fs.put(str(local), temp, recursive=True)
        self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        if self.fs.exists(final):
            self.fs.rm(final, recursive=True)
        self.fs.mv(temp, final, recursive=True)

    def remove_work(self) -> None:
        """Remove what uploads left under ``_work/`` (a killed batch's)."""
        if self.fs.exists(self.path(WORK_DIR)):
            self.fs.rm(self.path(WORK_DIR), recursive=True)


def staging_folder(url: str, quarter: str) -> Path:
    """This machine's staging folder for the quarter folder at ``url``: <tmp>/kam-staging/<hash>/<quarter>."""
    import hashlib

    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "kam-staging" / digest / quarter


def run_job(job: Job) -> AccountResult:
    """Job → AccountResult: rendered into ``job.out_dir``, or, when ``job.publish_to`` is a URL, into a staging
    folder of this machine and then published there."""
    if not job.publish_to:
        return render_account(job)
    target = Target(job.publish_to)
    staging = staging_folder(job.publish_to, job.quarter)
    shutil.rmtree(staging / job.account_id, ignore_errors=True)
    staging.mkdir(parents=True, exist_ok=True)
    prior = str(Quarter.parse(job.quarter).prior)
    previous = Target(job.publish_to.rsplit("/", 1)[0]).read_text(f"{prior}/{MANIFEST}")
    if previous is not None:  # the last QBR's action items, which this one follows up
        write_atomic(staging.parent / prior / MANIFEST, previous)
    result = render_account(replace(job, out_dir=str(staging)))
    if result.status == "ok":
        target.put_folder(staging / job.account_id, job.account_id)
    elif (staging / FAILED_DIR / job.account_id / NOTEBOOK).is_file():
        target.put_folder(staging / FAILED_DIR / job.account_id, f"{FAILED_DIR}/{job.account_id}")
    shutil.rmtree(staging / job.account_id, ignore_errors=True)
    shutil.rmtree(staging / FAILED_DIR / job.account_id, ignore_errors=True)
    return result
