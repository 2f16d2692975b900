"""The batch on a Dask distributed cluster: one task per account, its worker's warm kernel kept between tasks.

``run_batch(..., scheduler=ADDRESS)`` (``kam qbr --scheduler tcp://host:8786``, or ``local`` for a
``distributed.LocalCluster`` on this machine) hands its jobs here instead of to the local process pool; the
driver's manifest, progress, skip-unchanged and index code is the same. Dask's own futures API runs them:
``client.submit(render_on_worker, job, retries=N)`` per account and ``distributed.as_completed`` for the results.

- A worker that dies mid-account loses that attempt only: the scheduler runs the task again on another worker
  (up to its ``distributed.scheduler.allowed-failures``, 3 by default); an exception that escapes a task is
  retried ``retries`` times. Each attempt that starts is logged as an event (:data:`ATTEMPT_TOPIC`), which the
  driver counts: the manifest's ``attempts`` per account says which were retried.
- :class:`WarmKernelPlugin` (registered with ``client.register_plugin``) gives each worker what a local worker
  process has (:func:`kam_helpers.batch.worker.worker_init`: the warm-kernel engine, the preload, the kernel
  started with the report's imports) on one thread of its own, which every account of that worker runs on:
  the kernel's client and event loop belong to that thread. The kernel is shut down on the plugin's teardown.
- Workers share no working folder with the driver: jobs carry absolute paths (the store, ``--out``) or an
  ``env:VAR`` URL resolved on the worker, and the notebook travels with the task, written once per worker
  into its own temporary folder.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import uuid
from collections.abc import Generator, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker

from kam_helpers.batch.jobs import NOTEBOOK, AccountResult, Job
from kam_helpers.batch.publish import run_job
from kam_helpers.batch.worker import worker_init
from kam_helpers.core.errors import ConfigError
from kam_helpers.core.files import write_atomic

LOCAL = "local"  # --scheduler local: a LocalCluster on this machine
PLUGIN_NAME = "kam-warm-kernel"
ATTEMPT_TOPIC = "kam-qbr-attempt"  # one event per attempt that starts: {"key": the task's, "worker"}
RETRIES = 2  # retries of a task whose attempt raised (a worker's death is the scheduler's to count)
CONNECT_TIMEOUT = "30s"


class WarmKernelPlugin(WorkerPlugin):
    """On each worker: one thread that owns the warm kernel; the worker's accounts run on it, one at a time."""

    name = PLUGIN_NAME
    idempotent = True  # registered again by the next batch: the running kernel is kept

    def __init__(self, warm_up: bool = True) -> None:
        self.warm_up = warm_up
        self._thread: ThreadPoolExecutor | None = None

    def setup(self, worker: Any) -> None:
        """Start the kernel thread and its warm-up (:func:`worker_init`) without waiting for them: the first
        account queues behind the warm-up instead of blocking the worker's event loop."""
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kam-kernel")
        self._thread.submit(worker_init, self.warm_up)

    def run(self, job: Job) -> AccountResult:
        """Job → AccountResult, rendered on the kernel thread."""
        if self._thread is None:
            raise RuntimeError("the warm-kernel plugin was not set up on this worker")
        return self._thread.submit(run_job, job).result()

    def teardown(self, worker: Any) -> None:
        """Shut the kernel down (on its own thread) and stop the thread."""
        from kam_helpers.batch import kernels

        if self._thread is not None:
            self._thread.submit(kernels.WARM.shutdown).result(timeout=60)
            self._thread.shutdown()
            self._thread = None


_NOTEBOOKS_LOCK = threading.Lock()


def notebook_on_worker(text: str) -> str:
    """The notebook's text → the path of a copy in this machine's temporary folder (one per content)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / "kam-notebooks" / digest / NOTEBOOK
    with _NOTEBOOKS_LOCK:
        if not path.is_file():
            write_atomic(path, text)
    return str(path)


def render_on_worker(job: Job, notebook_text: str) -> AccountResult:
    """The task of one account on a Dask worker: log the attempt, run the job in the worker's warm kernel."""
    worker = get_worker()
    worker.log_event(ATTEMPT_TOPIC, {"key": worker.get_current_task(), "worker": worker.address})
    job = replace(job, notebook=notebook_on_worker(notebook_text))
    plugin = worker.plugins.get(PLUGIN_NAME)
    if not isinstance(plugin, WarmKernelPlugin):  # removed by someone else: the task's own thread runs it
        return run_job(job)
    return plugin.run(job)


def check_scheduler(address: str) -> str:
    """``local`` or a scheduler address (``tcp://host:8786``, ``tls://…``) → the same; ConfigError otherwise."""
    if address == LOCAL or "://" in address:
        return address
    raise ConfigError(f"--scheduler {address!r}: expected 'local' or a scheduler address such as tcp://host:8786")


def connect(address: str, workers: int) -> tuple[Client, LocalCluster | None]:
    """A client of the cluster at ``address``, or of a new LocalCluster of ``workers`` single-threaded worker
    processes for ``local`` → (client, the cluster to close after it, or None)."""
    cluster = None
    if check_scheduler(address) == LOCAL:
        cluster = LocalCluster(
            n_workers=max(1, workers), threads_per_worker=1, processes=True, dashboard_address=None
        )  # fmt: skip
        return Client(cluster), cluster
    return Client(address, timeout=CONNECT_TIMEOUT), None


def run_on_cluster(
    address: str,
    jobs: Iterable[Job],
    *,
    workers: int = 2,
    warm_up: bool = True,
    retries: int = RETRIES,
) -> Generator[tuple[Job, AccountResult | BaseException, int], None, None]:
    """Jobs → (job, its AccountResult or the exception that ended its last attempt, the attempts that started)
    as each account finishes on the cluster at ``address``."""
    jobs = list(jobs)
    if not jobs:
        return
    client, cluster = connect(address, workers)
    attempts: dict[str, int] = {}
    lock = threading.Lock()

    def count(event: tuple[float, dict]) -> None:
        with lock:
            key = str(event[1]["key"])
            attempts[key] = attempts.get(key, 0) + 1

    try:
        client.subscribe_topic(ATTEMPT_TOPIC, count)
        client.register_plugin(WarmKernelPlugin(warm_up))
        notebooks = {p: Path(p).read_text(encoding="utf-8") for p in {job.notebook for job in jobs}}
        batch = uuid.uuid4().hex[:12]  # keys unique to this batch: two batches on one cluster never share a task
        futures = {
            client.submit(
                render_on_worker, job, notebooks[job.notebook], key=f"qbr-{job.account_id}-{batch}", retries=retries
            ): job
            for job in jobs
        }
        for future in as_completed(futures):
            job = futures.pop(future)
            outcome: AccountResult | BaseException
            try:
                outcome = future.result()
            except Exception as exc:  # every attempt failed, or too many workers died running it
                outcome = exc
            with lock:
                tries = max(1, attempts.get(str(future.key), 0))
            future.release()
            yield job, outcome, tries
    finally:
        client.unsubscribe_topic(ATTEMPT_TOPIC)
        client.close()
        if cluster is not None:
            cluster.close()
