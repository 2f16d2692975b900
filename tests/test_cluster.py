"""`kam qbr --scheduler` on a real Dask cluster: a `dask scheduler` and two `dask worker` processes on 127.0.0.1.

The cluster run's manifest KPIs and reports equal a local run's; a worker killed mid-account costs that attempt
only: the account is run again on the other worker and the manifest names it as retried.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Book

from kam_helpers import cli
from kam_helpers.batch.cluster import check_scheduler
from kam_helpers.core.errors import ConfigError

pytestmark = [pytest.mark.batch, pytest.mark.slow]

DASK = [sys.executable, "-m", "dask"]
WAIT = 120  # seconds a process may take to come up before the test fails (never a fixed sleep)


@dataclass
class DaskCluster:
    address: str
    scheduler: subprocess.Popen
    workers: dict[str, subprocess.Popen]  # worker name → its process


def wait_for(what: str, ready: Callable[[], object], procs: list[subprocess.Popen], timeout: float = WAIT) -> object:
    """Poll ``ready`` until it returns something truthy → that; fails naming ``what`` when time runs out or one
    of ``procs`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = ready()
        if value:
            return value
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            pytest.fail(f"waiting for {what}: {dead[0].args} exited with {dead[0].returncode}")
        time.sleep(0.1)
    pytest.fail(f"waiting for {what}: not within {timeout} s")


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """A scheduler on a free port of 127.0.0.1 (its address read from the scheduler file) and two single-threaded
    workers without a nanny (killing one kills that worker), both registered before the tests start."""
    from distributed import Client

    root = tmp_path_factory.mktemp("dask")
    file = root / "scheduler.json"
    log = (root / "scheduler.log").open("w")
    scheduler = subprocess.Popen(
        [*DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(file)],
        stdout=log, stderr=subprocess.STDOUT, cwd=root,
    )  # fmt: skip
    procs = [scheduler]
    try:
        address = str(wait_for("the scheduler file", lambda: file.is_file() and json.loads(file.read_text())["address"],
                               procs))  # fmt: skip
        workers = {}
        for name in ("w0", "w1"):
            wlog = (root / f"{name}.log").open("w")
            workers[name] = subprocess.Popen(
                [*DASK, "worker", address, "--name", name, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                 "--host", "127.0.0.1"],
                stdout=wlog, stderr=subprocess.STDOUT, cwd=root,
            )  # fmt: skip
            procs.append(workers[name])
        with Client(address, timeout="30s") as client:
            wait_for("two registered workers", lambda: len(client.scheduler_info()["workers"]) >= 2, procs)
        yield DaskCluster(address, scheduler, workers)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _html(path: Path) -> str:
    """A report's HTML without papermill's random id of the injected-parameters cell."""
    return re.sub(r'id="cell-id=[0-9a-f-]+"', 'id="cell-id=…"', path.read_text())


def _kam_qbr(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "kam_helpers.cli", "qbr", "--formats", "html", "--quiet", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def test_a_scheduler_is_local_or_an_address() -> None:
    assert check_scheduler("local") == "local"
    assert check_scheduler("tcp://127.0.0.1:8786") == "tcp://127.0.0.1:8786"
    with pytest.raises(ConfigError, match="expected 'local' or a scheduler address"):
        check_scheduler("127.0.0.1")


def test_a_cluster_run_equals_a_local_run(dask_cluster: DaskCluster, book: Book, tmp_path: Path) -> None:
    accounts = "ACC-001,ACC-002,ACC-003"
    common = ["--workspace", str(book.workspace), "--quarter", str(book.quarter), "--accounts", accounts]
    assert cli.main(["qbr", *common, "--out", str(tmp_path / "local"), "--formats", "html", "--quiet"]) == 0
    run = _kam_qbr(*common, "--out", str(tmp_path / "cluster"), "--scheduler", dask_cluster.address)
    output = run.communicate(timeout=600)[0]
    assert run.returncode == 0, output
    local, cluster = _manifest(tmp_path / "local"), _manifest(tmp_path / "cluster")
    fields = ("account_id", "status", "kpis", "action_items", "outputs", "name", "fingerprint")
    assert [{k: a[k] for k in fields} for a in cluster["accounts"]] == [
        {k: a[k] for k in fields} for a in local["accounts"]
    ]
    assert cluster["retried"] == [] and {a["attempts"] for a in cluster["accounts"]} == {1}
    assert max(a["worker"][1] for a in cluster["accounts"]) == 2  # a worker's second account, in its warm kernel
    for account in accounts.split(","):
        assert _html(tmp_path / "cluster" / account / "qbr.html") == _html(tmp_path / "local" / account / "qbr.html")
    assert not (tmp_path / "cluster" / "_work").exists()


def test_workers_publish_to_an_fsspec_url_and_a_rerun_skips_what_is_there(
    dask_cluster: DaskCluster, book: Book, tmp_path: Path
) -> None:
    # local:// goes through fsspec as s3:// would (file:// and plain paths are written directly)
    url = f"local://{tmp_path}/reports/{book.quarter}"
    args = ["--workspace", str(book.workspace), "--quarter", str(book.quarter), "--accounts", "ACC-001,ACC-002",
            "--out", url, "--scheduler", dask_cluster.address]  # fmt: skip
    for _ in range(2):
        run = _kam_qbr(*args)
        output = run.communicate(timeout=600)[0]
        assert run.returncode == 0, output
    assert "2 unchanged, not rendered again" in output
    published = tmp_path / "reports" / str(book.quarter)
    assert sorted(p.name for p in published.iterdir()) == ["ACC-001", "ACC-002", "index.html", "manifest.json"]
    doc = _manifest(published)
    assert [(a["account_id"], a["status"]) for a in doc["accounts"]] == [("ACC-001", "ok"), ("ACC-002", "ok")]
    assert all((published / o).is_file() for a in doc["accounts"] for o in a["outputs"])


def test_a_worker_killed_mid_account_costs_that_attempt_only(
    dask_cluster: DaskCluster, book: Book, tmp_path: Path
) -> None:
    from distributed import Client

    out = tmp_path / "out"
    accounts = ["ACC-001", "ACC-002", "ACC-003", "ACC-004"]
    run = _kam_qbr("--workspace", str(book.workspace), "--quarter", str(book.quarter), "--accounts",
                   ",".join(accounts), "--out", str(out), "--scheduler", dask_cluster.address)  # fmt: skip
    procs = [run, *dask_cluster.workers.values()]

    def in_progress() -> str | None:
        """Once one account is done: an account whose run has started (its work folder exists) and not ended."""
        done = {a["account_id"] for a in _manifest(out)["accounts"]} if (out / "manifest.json").exists() else set()
        started = [a for a in accounts if (out / "_work" / a).is_dir() and a not in done]
        return started[0] if done and started else None

    victim = str(wait_for("an account in progress after the first is done", in_progress, procs))
    with Client(dask_cluster.address, timeout="30s") as client:
        running = client.processing()
        names = {addr: info["name"] for addr, info in client.scheduler_info()["workers"].items()}
    worker = next(names[addr] for addr, keys in running.items() if any(f"qbr-{victim}-" in str(k) for k in keys))
    dask_cluster.workers[worker].kill()

    output = run.communicate(timeout=600)[0]
    assert run.returncode == 0, output
    doc = _manifest(out)
    assert {a["account_id"]: a["status"] for a in doc["accounts"]} == dict.fromkeys(accounts, "ok")
    assert victim in doc["retried"]
    assert next(a for a in doc["accounts"] if a["account_id"] == victim)["attempts"] >= 2
    assert all((out / a / "qbr.html").is_file() for a in accounts)
    assert not (out / "_work").exists()
