"""The worker side of the batch: one account's papermill run → its pack swapped in whole → AccountResult.

A worker keeps a warm kernel (:mod:`kam_helpers.batch.kernels`), so the cost per account is the analysis, not the
kernel start and imports. The notebook computes the account once: its last cell leaves the KAM's headline (KPIs,
verdict, health, action items) as JSON in ``_work/<id>/``, which the worker reads back for the manifest; the
client's published notebook never carries it. Each account's pack is built in ``_work/<id>/pack`` and swapped in
as a whole; a failed account keeps its partial notebook under ``_failed/`` and leaves its earlier finished pack
untouched.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

import nbformat

from kam_helpers.batch.jobs import (
    FAILED_DIR,
    HEADLINE,
    NOTEBOOK,
    OLD,
    PACK,
    PATH_PARAMETERS,
    AccountResult,
    Job,
    account_folders,
)
from kam_helpers.batch.kernels import KERNEL_NAME
from kam_helpers.core.errors import KamError, KernelWarmUpError, UnsafePathError
from kam_helpers.core.files import write_atomic
from kam_helpers.exports.formats import FILENAMES

_ACCOUNT_NUMBER = itertools.count(1)  # accounts this process has rendered: AccountResult.worker


def worker_init(warm_up: bool = True) -> None:
    """Runs once in each worker process: register the warm-kernel engine, shut the kernel down at exit, and
    (``warm_up``) pay the worker side's fixed costs (:mod:`kam_helpers.batch.preload`: nothing left to do when
    the worker was forked from a preloaded parent) and start the kernel with the report's imports and first
    chart conversions, so the first account costs what the next ones do."""
    from multiprocessing import util

    from kam_helpers.batch import kernels

    kernels.register()
    util.Finalize(None, kernels.WARM.shutdown, exitpriority=10)
    if warm_up:
        from kam_helpers.batch import preload  # noqa: F401

        try:
            kernels.WARM.warm_up()
        except KernelWarmUpError as exc:  # the first account starts its kernel itself and reports what fails
            print(f"kam batch worker: {exc}", file=sys.stderr, flush=True)


def read_headline(path: Path) -> dict:
    """The headline JSON the notebook's last cell wrote → dict (see ``QbrReport.headline``); KamError when the
    notebook wrote none."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KamError(f"the notebook wrote no readable {HEADLINE}: {exc}") from exc


def _footer(published: dict, quarter: str) -> str:
    parts = [published.get("name"), f"Quarterly business review {quarter}"]
    if published.get("owner"):
        parts.append(f"prepared by {published['owner']}")
    if published.get("as_of"):
        parts.append(f"data as of {published['as_of']}")
    return " · ".join(p for p in parts if p)


def render_account(job: Job) -> AccountResult:
    """Job → AccountResult. Never raises: a failure is recorded with its error and failing cell."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from kam_helpers.exports.html import notebook_to_html

    if job.engine == "kam-warm":
        from kam_helpers.batch import kernels

        kernels.register()
    start = time.perf_counter()
    worker = (os.getpid(), next(_ACCOUNT_NUMBER))
    out = Path(job.out_dir)
    try:
        final, work, failed = account_folders(out, job.account_id)
    except UnsafePathError as exc:
        return AccountResult(
            job.account_id,
            "failed",
            time.perf_counter() - start,
            error=str(exc),
            fingerprint=job.fingerprint,
            worker=worker,
        )
    shutil.rmtree(work, ignore_errors=True)  # what a killed run left
    pack = work / PACK
    pack.mkdir(parents=True)
    partial = work / NOTEBOOK
    office = [f for f in job.formats if f != "html"]
    parameters = {
        "account_id": job.account_id,
        "quarter": job.quarter,
        "workspace": job.workspace,
        "reports_dir": str(Path(job.out_dir).parent),  # where the previous quarter's QBR stored its action items
        "as_of": job.as_of,
        "headline_path": str(work / HEADLINE),
    }
    if office:
        parameters.update(pack_dir=str(pack), pack_formats=",".join(office), pack_template=job.template)
    try:
        executed = pm.execute_notebook(
            job.notebook,
            str(partial),
            parameters=parameters,
            engine_name=job.engine,
            kernel_name=KERNEL_NAME,
            progress_bar=False,
            request_save_on_cell_execute=False,  # one write at the end, not a growing notebook per cell
            cwd=str(Path(job.notebook).parent),
        )
        nb = published_notebook(executed, parameters)  # what papermill wrote to ``partial``, not read back
        published = read_headline(work / HEADLINE)
        kpis, name = published["kpis"], published["name"]
        written = [NOTEBOOK]
        write_atomic(pack / NOTEBOOK, nbformat.writes(nb))
        if "html" in job.formats:
            html = notebook_to_html(
                nb, title=f"QBR {job.quarter} · {name or job.account_id}", footer=_footer(published, job.quarter)
            )
            write_atomic(pack / FILENAMES["html"], html)
            written.append(FILENAMES["html"])
        for fmt in office:  # complete files the notebook wrote into the work folder
            if not (pack / FILENAMES[fmt]).is_file():
                raise KamError(f"the notebook wrote no {FILENAMES[fmt]}")
            written.append(FILENAMES[fmt])
        swap_in(pack, final, work / OLD)
        shutil.rmtree(failed, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        return AccountResult(
            job.account_id,
            "ok",
            time.perf_counter() - start,
            outputs=[f"{job.account_id}/{f}" for f in written],
            kpis=kpis,
            action_items=published["action_items"],
            name=name,
            fingerprint=job.fingerprint,
            worker=worker,
        )
    except PapermillExecutionError as exc:
        cell = {
            "index": exc.cell_index,
            "execution_count": exc.exec_count,
            "source": (exc.source or "").strip().splitlines()[0] if exc.source else "",
        }
        error = f"{exc.ename}: {exc.evalue}"
    except Exception as exc:  # a broken notebook file, a dead kernel, a full disk: record it, go on
        cell = None
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    failed.mkdir(parents=True, exist_ok=True)
    if partial.exists():
        try:
            nb = published_notebook(nbformat.read(partial, as_version=4), parameters)
            write_atomic(failed / NOTEBOOK, nbformat.writes(nb))
        except Exception:  # an unreadable partial notebook: keep it as it is
            shutil.move(str(partial), failed / NOTEBOOK)
    if (work / OLD).exists() and not final.exists():  # the swap failed halfway: the last good pack goes back
        os.replace(work / OLD, final)
    shutil.rmtree(work, ignore_errors=True)
    return AccountResult(
        job.account_id,
        "failed",
        time.perf_counter() - start,
        error=error,
        failed_cell=cell,
        outputs=[f"{FAILED_DIR}/{job.account_id}/{NOTEBOOK}"] if (failed / NOTEBOOK).exists() else [],
        fingerprint=job.fingerprint,
        worker=worker,
    )


def swap_in(new: Path, final: Path, old: Path) -> None:
    """Replace the folder ``final`` by the complete folder ``new`` as a whole: the previous one is renamed to
    ``old`` (same file system), the new one renamed into place, then the old one deleted. A kill between the
    two renames leaves ``old`` for the driver's ``recover_work`` to put back; never a folder mixing two runs."""
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


def published_notebook(nb: nbformat.NotebookNode, parameters: dict) -> nbformat.NotebookNode:
    """The executed notebook → the one to publish: its injected parameters and papermill's metadata without
    this machine's paths (workspace, reports folder, pack folder, deck template, headline file; see
    PATH_PARAMETERS), so they fall back to the notebook's defaults when it is run again elsewhere."""
    from papermill.translators import translate_parameters

    public = {k: v for k, v in parameters.items() if k not in PATH_PARAMETERS}
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            kernel = nb.metadata.get("kernelspec", {}).get("name", "python3")
            language = nb.metadata.get("kernelspec", {}).get("language", "python")
            cell.source = translate_parameters(kernel, language, public, "Parameters").rstrip("\n")
    meta = nb.metadata.get("papermill")
    if meta is not None:
        meta["parameters"] = public
        meta["input_path"] = meta["output_path"] = NOTEBOOK
    return nb
