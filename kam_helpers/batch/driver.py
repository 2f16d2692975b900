"""The driver side of the quarterly batch: which accounts to render, their jobs, the executor, the manifest.

Each account's run is a :class:`~kam_helpers.batch.jobs.Job` handed to an executor (local worker processes by
default; anything with the ``concurrent.futures.Executor`` interface can take its place; ``scheduler`` runs
them on a Dask cluster, :mod:`kam_helpers.batch.cluster`) that runs :func:`kam_helpers.batch.worker.render_account`.
The manifest is rewritten (atomically) as each account finishes, so a killed batch resumes where it stopped; the book-of-business index
is written last from the results.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Generator, Iterable
from contextlib import closing
from dataclasses import asdict
from pathlib import Path

from kam_helpers.batch.index import write_index
from kam_helpers.batch.jobs import NOTEBOOK, OLD, WORK_DIR, AccountResult, BatchResult, Job, account_folders
from kam_helpers.batch.publish import MANIFEST, Target, is_remote, local_path, run_job, staging_folder
from kam_helpers.batch.worker import worker_init
from kam_helpers.core import paths
from kam_helpers.core.errors import ConfigError, KamError, UnknownAccountError, UnsafePathError
from kam_helpers.core.files import write_atomic
from kam_helpers.core.quarters import Quarter
from kam_helpers.exports.formats import ALL_FORMATS, parse_formats


def recover_work(out: Path) -> list[str]:
    """Clean up after a killed batch, before the next one starts: a previous pack caught between the renames
    of :func:`kam_helpers.batch.worker.swap_in` goes back into place, then ``_work/`` is deleted; returns the accounts put back."""
    restored = []
    work_root = out / WORK_DIR
    for old in sorted(work_root.glob(f"*/{OLD}")) if work_root.is_dir() else []:
        try:
            final = paths.inside(out, old.parent.name)
        except UnsafePathError:
            continue
        if not final.exists():
            os.replace(old, final)
            restored.append(old.parent.name)
    shutil.rmtree(work_root, ignore_errors=True)
    return restored


PRELOAD = "kam_helpers.batch.preload"  # imported once by the parent that workers fork from


def worker_context() -> multiprocessing.context.BaseContext:
    """How local workers start: forked from a forkserver that preloaded :mod:`kam_helpers.batch.preload` (its
    imports and first HTML export paid once, not per worker) where the platform has one; spawned elsewhere.
    Never forked from the driver: a fork of a process that has run papermill can hang. Forked workers have the
    environment and working folder the forkserver started with: jobs carry absolute paths and every setting."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([PRELOAD])
        return context
    return multiprocessing.get_context("spawn")


def start_worker_parent() -> None:
    """Start the forkserver of :func:`worker_context` now and return at once: its preload then runs while the
    driver imports and scans the workspace. Later calls (and batches) reuse the running one."""
    if worker_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def local_executor(workers: int, warm_up: bool = True) -> cf.Executor:
    """Worker processes on this machine (see :func:`worker_context`), each starting its warm kernel as it
    starts (``warm_up``)."""
    return cf.ProcessPoolExecutor(
        max_workers=max(1, workers),
        mp_context=worker_context(),
        initializer=worker_init,
        initargs=(warm_up,),
    )


def executor_outcomes(
    ex: cf.Executor | None, jobs: list[Job]
) -> Generator[tuple[Job, AccountResult | BaseException, int], None, None]:
    """Jobs run by ``ex`` → (job, its AccountResult or the exception its future raised, attempts: 1) as each
    finishes."""
    futures = {ex.submit(run_job, job): job for job in jobs} if ex is not None else {}
    for fut in cf.as_completed(futures):
        try:
            yield futures[fut], fut.result(), 1
        except Exception as exc:  # a worker that died
            yield futures[fut], exc, 1


def code_digest() -> str:
    """Digest of the package's code and templates and the notebooks: a change re-renders every report."""
    h = hashlib.sha256()
    roots = [paths.PACKAGE_DIR, paths.notebooks_dir()]
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.suffix in {".py", ".j2", ".css", ".json", ".yml", ".yaml", ".ipynb"}:
                h.update(str(p.relative_to(root)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()


def _digest_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _previous_manifest(path: Path) -> dict[str, dict]:
    try:
        return {a["account_id"]: a for a in json.loads(path.read_text())["accounts"]}
    except (OSError, ValueError, KeyError):
        return {}


def run_batch(
    quarter: str | Quarter | None = None,
    accounts: Iterable[str] | None = None,
    *,
    workers: int = 2,
    workspace: str | Path | None = None,
    out: str | Path | None = None,
    force: bool = False,
    executor: cf.Executor | None = None,
    scheduler: str | None = None,
    notebook: str | Path | None = None,
    engine: str = "kam-warm",
    formats: str | Iterable[str] = ALL_FORMATS,
    template: str | Path | None = None,
    progress: bool = True,
    on_result: Callable[[AccountResult], None] | None = None,
    as_of: str = "",
) -> BatchResult:
    """Render the QBR of each account for a quarter → BatchResult (manifest.json and index.html written).

    ``quarter`` defaults to the last complete quarter in the data, ``accounts`` to every account with
    shipments in it. ``formats`` are of ALL_FORMATS (html, pptx, xlsx, pdf); ``template`` is a company .pptx for
    the deck. ``as_of`` ('' = the data's newest event) is the date undelivered shipments are judged at and
    the quarter's coverage ends on. Accounts whose data, notebook, code and options are unchanged since their
    last good report are skipped unless ``force``. ``scheduler`` ('local' or a Dask scheduler's address) runs
    the accounts on a Dask cluster (:mod:`kam_helpers.batch.cluster`) instead of ``executor`` or local processes;
    ``workspace`` is then a path (or ``env:VAR`` URL) every worker can open. ``out`` may be an fsspec URL
    (:mod:`kam_helpers.batch.publish`).
    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    if executor is None and not scheduler:
        start_worker_parent()  # its imports overlap with the scan below

    from kam_helpers.data.store import Workspace
    from kam_helpers.data.warehouse import is_warehouse
    from kam_helpers.metrics import parse_as_of

    workspace_dir = Path(workspace) if workspace else paths.default_workspace()
    # what every worker opens: the store's absolute path, or the warehouse's env:VAR (resolved on the worker)
    workspace_spec = str(workspace_dir) if is_warehouse(workspace_dir) else str(workspace_dir.resolve())
    with Workspace.open(workspace_dir) as ws:
        given = parse_as_of(as_of)
        q = ws.report_quarter(quarter, given)
        known = ws.account_ids()
        if accounts:
            ids = list(dict.fromkeys(a.strip() for a in accounts if a.strip()))  # an account named twice runs once
            unknown = [a for a in ids if a not in known]
            if unknown:
                raise UnknownAccountError(f"not in the workspace {workspace_dir}: {', '.join(unknown)}")
        else:
            ids = ws.active_accounts(q)
        digests = {a: ws.fingerprint(a) for a in ids}
        names = dict(ws.query("SELECT account_id, name FROM accounts").itertuples(index=False, name=None))
    if not ids:
        raise KamError(f"no account has shipments in {q}; choose another --quarter or name --accounts")

    # --out an fsspec URL: workers publish there; the manifest and index are written here first, then uploaded
    remote = Target(str(out)) if is_remote(out) else None
    out_dir = staging_folder(remote.url, str(q)) if remote else local_path(out or paths.reports_dir() / str(q))
    out_dir.mkdir(parents=True, exist_ok=True)
    recover_work(out_dir)  # what a killed batch left: a pack caught mid-swap, _work/, kernel files
    if remote:
        remote.remove_work()
        write_atomic(out_dir / MANIFEST, remote.read_text(MANIFEST) or "{}")
    if engine == "kam-warm":
        from kam_helpers.batch.kernels import clean_stale_kernel_files

        clean_stale_kernel_files()
    nb_path = Path(notebook) if notebook else paths.notebooks_dir() / NOTEBOOK
    code = code_digest()
    formats = tuple(f for f in ALL_FORMATS if f in parse_formats(formats))
    template_path = Path(template).resolve() if template else None
    if template_path and not template_path.is_file():
        raise ConfigError(f"deck template {template_path}: no such file (expected a .pptx)")
    options = f"{','.join(formats)}|{_digest_file(template_path) if template_path else ''}|{as_of or ''}"
    manifest = out_dir / MANIFEST
    previous = _previous_manifest(manifest)

    def write_manifest(entries: list[AccountResult]) -> None:
        for r in entries:
            r.name = r.name or names.get(r.account_id)
        doc = {
            "quarter": str(q),
            "workspace": workspace_spec,
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "retried": sorted(r.account_id for r in entries if r.attempts > 1 and not r.skipped),
            "accounts": [asdict(r) for r in sorted(entries, key=lambda r: r.account_id)],
        }
        write_atomic(manifest, json.dumps(doc, indent=2, default=str))
        if remote:
            remote.put_file(manifest, MANIFEST)

    jobs, results = [], []
    for account_id in ids:
        try:
            account_folders(out_dir, account_id)
        except UnsafePathError as exc:  # a store built before ids were checked: this account fails, alone
            results.append(AccountResult(account_id, "failed", 0.0, error=f"{exc}; fix the id and load the data again"))
            continue
        fp = hashlib.sha256(f"{digests[account_id]}|{code}|{q}|{engine}|{options}".encode()).hexdigest()
        before = previous.get(account_id)
        current = (
            before
            and before.get("status") == "ok"
            and before.get("fingerprint") == fp
            and all(remote.exists(o) if remote else (out_dir / o).exists() for o in before.get("outputs", []))
        )
        if current and before is not None and not force:
            results.append(AccountResult(**{**before, "skipped": True, "seconds": 0.0, "worker": None}))
            continue
        jobs.append(
            Job(
                account_id,
                str(q),
                workspace_spec,
                str(nb_path.resolve()),
                str(out_dir.resolve()),  # absolute: a forked worker's working folder is the forkserver's
                fp,
                engine,
                formats,
                str(template_path or ""),
                as_of or "",
                remote.url if remote else "",
            )
        )

    # until an account finishes, the manifest keeps its entry of the last run (so a kill loses nothing)
    pending = {job.account_id: AccountResult(**previous[job.account_id]) for job in jobs if job.account_id in previous}
    own_executor = executor is None and not scheduler and bool(jobs)
    ex = local_executor(min(workers, len(jobs)), warm_up=engine == "kam-warm") if own_executor else executor
    try:
        if scheduler:
            from kam_helpers.batch.cluster import run_on_cluster

            outcomes = run_on_cluster(scheduler, jobs, workers=workers, warm_up=engine == "kam-warm")
        else:
            outcomes = executor_outcomes(ex, jobs)
        bar = tqdm(total=len(jobs), desc=f"QBR {q}", unit="account", disable=not progress or not jobs)
        with closing(outcomes):
            for job, outcome, attempts in outcomes:
                res = outcome if isinstance(outcome, AccountResult) else AccountResult(
                    job.account_id, "failed", 0.0, error=f"{type(outcome).__name__}: {outcome}"
                )  # fmt: skip
                res.attempts = attempts
                results.append(res)
                pending.pop(res.account_id, None)
                write_manifest(results + list(pending.values()))
                bar.update(1)
                bar.set_postfix_str(f"{res.account_id} {res.status}")
                if on_result:
                    on_result(res)
        bar.close()
    finally:
        if own_executor and ex is not None:
            ex.shutdown()
    shutil.rmtree(out_dir / WORK_DIR, ignore_errors=True)

    write_manifest(results)
    results.sort(key=lambda r: r.account_id)
    index = write_index(out_dir, str(q), results)
    if remote:
        remote.put_file(index, index.name)
        remote.remove_work()
    return BatchResult(str(q), results, manifest, index, time.perf_counter() - started)
