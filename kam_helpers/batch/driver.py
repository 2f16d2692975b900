"""The quarterly batch: one papermill run of the QBR notebook per account, in parallel, into reports/<quarter>/.

Each account's run is a :class:`Job` handed to an executor (local worker processes by default; anything with
the ``concurrent.futures.Executor`` interface, such as a Dask ``Client.get_executor()``, can take its place).
A worker keeps a warm kernel (:mod:`kam_helpers.batch.kernels`), so the cost per account is the analysis, not the
kernel start and imports. Each account's pack is built in ``_work/<id>/pack`` and swapped in as a whole; a
failed account keeps its partial notebook under ``_failed/`` and leaves its earlier finished pack untouched.
The manifest is rewritten (atomically) as each account finishes, so a killed batch resumes where it stopped.
Every folder named after an account id is checked to lie inside the output folder first
(:func:`kam_helpers.core.paths.inside`): one bad id is that account's failure, never a write elsewhere.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
import shutil
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from kam_helpers.core import paths
from kam_helpers.core.errors import ConfigError, KamError, UnknownAccountError, UnsafePathError
from kam_helpers.core.files import write_atomic
from kam_helpers.core.quarters import Quarter
from kam_helpers.exports.formats import ALL_FORMATS, FILENAMES, parse_formats

NOTEBOOK = "qbr.ipynb"
FAILED_DIR = "_failed"
WORK_DIR = "_work"
PACK = "pack"  # _work/<id>/pack: the new pack, complete before it is swapped in
OLD = "old"  # _work/<id>/old: the previous pack, for the moment of the swap
# Parameters that hold this machine's paths: the published notebook does not carry them.
PATH_PARAMETERS = ("workspace", "pack_dir", "pack_template")


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


# ---------------------------------------------------------------- the worker side


def _worker_init() -> None:
    """Runs once in each worker process: register the warm-kernel engine, shut the kernel down at exit."""
    from multiprocessing import util

    from kam_helpers.batch import kernels

    kernels.register()
    util.Finalize(None, kernels.WARM.shutdown, exitpriority=10)


def headline(job: Job) -> dict:
    """The account's headline KPIs for the manifest and the KAM's index, computed in the worker from the store
    (never read from the client's notebook, which carries only what the client may see):
    name, owner, as_of, kpis (revenue, shipments, otd_pct, gross_margin_pct, invoice_accuracy_pct,
    cases_opened, currency, assessment, health_score, health_band, coverage), action_items (what the client's
    QBR agreed: text, owner, due, reason_kpi; the next quarter's QBR reads them back)."""
    from kam_helpers.analyses import commitments, health
    from kam_helpers.data.store import Workspace
    from kam_helpers.metrics import kpis as metrics
    from kam_helpers.qbr import narrative

    with Workspace.open(job.workspace) as ws:
        data = metrics.with_as_of(ws.account_data(job.account_id, job.quarter), job.as_of)
    sc = metrics.scorecard(data, job.quarter)
    try:
        score = health.health_score(data, job.quarter, with_history=False)
    except KamError:  # no measure has data this quarter: the verdict follows the concerns alone
        score = None
    verdict = narrative.assess(sc, score)
    kpis = {**sc.headline(), "currency": data.account.get("currency"), "assessment": verdict.overall}
    kpis.update(
        health_score=None if score is None else round(score.score, 1),
        health_band=None if score is None else score.band,
        coverage=narrative.coverage_note(sc.coverage) or None,
    )
    actions = narrative.action_items(sc.for_client(), verdict)
    as_of = data.as_of
    return {
        "name": data.name,
        "owner": data.account.get("owner"),
        "kpis": kpis,
        "as_of": as_of.strftime("%d %b %Y") if as_of is not None else None,
        "action_items": [commitments.item_record(item) for item in actions],
    }


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
    out = Path(job.out_dir)
    try:
        final, work, failed = account_folders(out, job.account_id)
    except UnsafePathError as exc:
        return AccountResult(
            job.account_id, "failed", time.perf_counter() - start, error=str(exc), fingerprint=job.fingerprint
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
    }
    if office:
        parameters.update(pack_dir=str(pack), pack_formats=",".join(office), pack_template=job.template)
    try:
        pm.execute_notebook(
            job.notebook,
            str(partial),
            parameters=parameters,
            engine_name=job.engine,
            kernel_name="python3",
            progress_bar=False,
            request_save_on_cell_execute=False,  # one write at the end, not a growing notebook per cell
            cwd=str(Path(job.notebook).parent),
        )
        nb = published_notebook(nbformat.read(partial, as_version=4), parameters)
        published = headline(job)
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
    )


def account_folders(out: Path, account_id: str) -> tuple[Path, Path, Path]:
    """An account's (pack, work, failed) folders: ``out/<id>``, ``out/_work/<id>``, ``out/_failed/<id>``;
    UnsafePathError when the id is not a safe name or any of them would lie outside its folder of ``out``."""
    return (
        paths.inside(out, account_id),
        paths.inside(out, account_id, WORK_DIR),
        paths.inside(out, account_id, FAILED_DIR),
    )


def swap_in(new: Path, final: Path, old: Path) -> None:
    """Replace the folder ``final`` by the complete folder ``new`` as a whole: the previous one is renamed to
    ``old`` (same file system), the new one renamed into place, then the old one deleted. A kill between the
    two renames leaves ``old`` for :func:`recover_work` to put back; never a folder mixing two runs."""
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


def recover_work(out: Path) -> list[str]:
    """Clean up after a killed batch, before the next one starts: a previous pack caught between the renames
    of :func:`swap_in` goes back into place, then ``_work/`` is deleted; returns the accounts put back."""
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


def published_notebook(nb: nbformat.NotebookNode, parameters: dict) -> nbformat.NotebookNode:
    """The executed notebook → the one to publish: its injected parameters and papermill's metadata without
    this machine's paths (workspace, pack folder, deck template; see PATH_PARAMETERS), so they fall back to
    the notebook's defaults when it is run again elsewhere."""
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


# ---------------------------------------------------------------- the driver side


def local_executor(workers: int) -> cf.Executor:
    """Worker processes on this machine. They are spawned, not forked: a fork of a process that has run
    papermill can hang."""
    return cf.ProcessPoolExecutor(
        max_workers=max(1, workers), mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init
    )


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
    last good report are skipped unless ``force``.
    """
    from tqdm.auto import tqdm

    from kam_helpers.batch.index import write_index
    from kam_helpers.data.store import Workspace
    from kam_helpers.metrics import kpis as metrics

    started = time.perf_counter()
    workspace_dir = Path(workspace) if workspace else paths.default_workspace()
    with Workspace.open(workspace_dir) as ws:
        given = metrics.parse_as_of(as_of)
        q = ws.report_quarter(quarter, given)
        known = ws.account_ids()
        if accounts:
            ids = [a.strip() for a in accounts if a.strip()]
            unknown = [a for a in ids if a not in known]
            if unknown:
                raise UnknownAccountError(f"not in the workspace {workspace_dir}: {', '.join(unknown)}")
        else:
            ids = ws.active_accounts(q)
        digests = {a: ws.fingerprint(a) for a in ids}
        names = dict(ws.query("SELECT account_id, name FROM accounts").itertuples(index=False, name=None))
    if not ids:
        raise KamError(f"no account has shipments in {q}; choose another --quarter or name --accounts")

    out_dir = Path(out) if out else paths.reports_dir() / str(q)
    out_dir.mkdir(parents=True, exist_ok=True)
    recover_work(out_dir)  # what a killed batch left: a pack caught mid-swap, _work/, kernel files
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
    manifest = out_dir / "manifest.json"
    previous = _previous_manifest(manifest)

    def write_manifest(entries: list[AccountResult]) -> None:
        for r in entries:
            r.name = r.name or names.get(r.account_id)
        doc = {
            "quarter": str(q),
            "workspace": str(workspace_dir.resolve()),
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "accounts": [asdict(r) for r in sorted(entries, key=lambda r: r.account_id)],
        }
        write_atomic(manifest, json.dumps(doc, indent=2, default=str))

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
            and all((out_dir / o).exists() for o in before.get("outputs", []))
        )
        if current and before is not None and not force:
            results.append(AccountResult(**{**before, "skipped": True, "seconds": 0.0}))
            continue
        jobs.append(
            Job(
                account_id,
                str(q),
                str(workspace_dir.resolve()),
                str(nb_path.resolve()),
                str(out_dir),
                fp,
                engine,
                formats,
                str(template_path or ""),
                as_of or "",
            )
        )

    # until an account finishes, the manifest keeps its entry of the last run (so a kill loses nothing)
    pending = {job.account_id: AccountResult(**previous[job.account_id]) for job in jobs if job.account_id in previous}
    own_executor = executor is None and bool(jobs)
    ex = local_executor(min(workers, len(jobs))) if own_executor else executor
    try:
        futures = {ex.submit(render_account, job): job for job in jobs} if jobs and ex is not None else {}
        bar = tqdm(total=len(jobs), desc=f"QBR {q}", unit="account", disable=not progress or not jobs)
        for fut in cf.as_completed(futures):
            job = futures[fut]
            try:
                res = fut.result()
            except Exception as exc:  # a worker that died: this account fails, the others go on
                res = AccountResult(job.account_id, "failed", 0.0, error=f"{type(exc).__name__}: {exc}")
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
    return BatchResult(str(q), results, manifest, index, time.perf_counter() - started)
