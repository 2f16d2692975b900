"""A papermill engine that runs each notebook in a warm kernel of the worker process.

A plain papermill run spends most of its seconds starting a kernel and importing pandas and altair; the
analysis itself takes a fraction of a second. This engine keeps one kernel per worker process, clears its
namespace and execution counter before each notebook, and otherwise executes exactly as papermill's own
nbclient engine does, so the output notebook has the same cells, outputs and execution counts.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.utils import merge_kwargs, remove_args

from kam_helpers.core.errors import KernelWarmUpError

ENGINE_NAME = "kam-warm"

# Run once in a new kernel, before any other code: the user namespace as a fresh kernel has it, for RESET_CODE.
SNAPSHOT_CODE = "get_ipython().kam_fresh_namespace = dict(get_ipython().user_ns)"
# Run before each notebook: the kernel as a fresh one started in ``cwd`` would be (modules stay imported: that
# is the saving). A new history session clears the namespace, the output cache (``_``, ``Out``) and the input
# history (``In``, which held the previous client's cells and parameters) and restarts the counter; the fresh
# namespace's own names (``__doc__``, ``_`` ...) come back as they were. Not: what code changed inside modules.
RESET_CODE = """
def _kam_reset(cwd):
    import os
    shell = get_ipython()
    shell.reset(new_session=True)
    shell.user_ns.update(shell.kam_fresh_namespace)
    os.chdir(cwd)
    shell.history_manager.dir_hist[:] = [cwd]
_kam_reset({cwd!r})
"""
KERNEL_NAME = "python3"  # the kernel the batch runs the QBR notebook in
# No input history, however the kernel is started (warm-up or nbclient): a batch kernel needs none, and a kernel
# started outside nbclient used the shared history file, whose "Session/line number was not unique" error was
# printed into a notebook.
KERNEL_ARGUMENTS = ("--HistoryManager.enabled=False",)
# What a worker's kernel pays once before its first account: the report's imports, including those its code
# makes on first use (statsmodels for the forecast: some 800 modules; Pillow's image plugins for the deck and
# PDF), and vl-convert's first conversions (its engine starts on first use). Run as the worker starts, so the
# first account costs what the next do. Run silently and inside a function, it leaves no name, no output and
# no history: the first notebook then runs as in a fresh kernel. It touches no client's data. Last, what the
# imports made (some million objects, none of them a client's) is frozen out of the garbage collector's reach:
# its full collections, and the reset's before each notebook, then walk only what a report makes.
WARM_UP_CODE = """
def _kam_warm_up():
    import altair as alt
    import pandas as pd
    from PIL import Image
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    import kam_helpers.apps.page
    import kam_helpers.exports.pack
    import kam_helpers.qbr.report
    from kam_helpers.qbr import charts
    Image.init()
    charts.svg_to_png(charts.to_svg(alt.Chart(pd.DataFrame({"x": [1]})).mark_bar().encode(x="x")))
_kam_warm_up()
del _kam_warm_up
__import__("gc").collect()
__import__("gc").freeze()
"""


def kernel_files_root() -> Path:
    """Where warm kernels keep their connection file and sockets: one folder per worker, named
    ``<worker pid>-<random>``, under a folder of this user's in the temporary directory."""
    return Path(tempfile.gettempdir()) / f"kam-kernels-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def process_alive(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie, killed but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):  # no /proc (macOS): ask the kernel
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_kernel_files(root: Path | None = None) -> list[Path]:
    """Remove the kernel folders of workers that no longer run (a batch killed with SIGKILL leaves them);
    returns what was removed. Folders of running workers are left alone."""
    folder = root or kernel_files_root()
    removed = []
    for path in sorted(folder.glob("*-*")) if folder.is_dir() else []:
        pid = path.name.split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


class _WarmKernel:
    """The worker's kernel: started on first use, replaced if it dies, shut down at exit."""

    def __init__(self) -> None:
        self.km: AsyncKernelManager | None = None
        self.kc: Any = None
        self.kernel_name: str | None = None
        self.runs = 0
        self.files: Path | None = None  # connection file and sockets of the current kernel

    def manager(self, kernel_name: str) -> AsyncKernelManager:
        alive = self.km is not None and run_sync(self.km.is_alive)()
        if not alive or kernel_name != self.kernel_name:
            self.shutdown()
            # ipc: local sockets instead of TCP ports, in a folder of this worker's own (a shared socket path
            # would mix two workers' messages), with the connection file beside them; named by the worker's
            # pid so that the next batch removes them if this worker is killed (clean_stale_kernel_files)
            root = kernel_files_root()
            root.mkdir(mode=0o700, exist_ok=True)
            self.files = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
            self.km = AsyncKernelManager(
                kernel_name=kernel_name,
                transport="ipc",
                ip=str(self.files / "kernel"),
                connection_file=str(self.files / "kernel.json"),
            )
            self.kernel_name = kernel_name
        assert self.km is not None
        return self.km

    def start(self, kernel_name: str = KERNEL_NAME, timeout: float = 120) -> None:
        """Start the kernel and its client unless they run, and note its fresh namespace (SNAPSHOT_CODE).
        KernelWarmUpError, the kernel left shut down, when it cannot start."""
        km = self.manager(kernel_name)
        if km.has_kernel and self.kc is not None:
            return
        if km.has_kernel:  # running without our client: not known to be fresh, so it is replaced
            self.shutdown()
            km = self.manager(kernel_name)
        try:
            run_sync(km.start_kernel)(extra_arguments=list(KERNEL_ARGUMENTS))
            kc = km.client()
            kc.start_channels()
            self.kc = kc
            run_sync(kc.wait_for_ready)(timeout=timeout)
        except Exception as exc:
            self.shutdown()
            raise KernelWarmUpError(f"the {kernel_name} kernel did not start: {exc}") from exc
        self.run_silently(SNAPSHOT_CODE, timeout)

    def run_silently(self, code: str, timeout: float = 120) -> None:
        """Run ``code`` in the running kernel, leaving no output and no history; KernelWarmUpError, the kernel
        shut down, when it fails."""
        try:
            reply = run_sync(self.kc.execute_interactive)(code, silent=True, store_history=False, timeout=timeout)
        except Exception as exc:
            self.shutdown()
            raise KernelWarmUpError(f"the {self.kernel_name} kernel did not answer: {exc}") from exc
        content = reply["content"]
        if content.get("status") != "ok":
            self.shutdown()
            raise KernelWarmUpError(f"kernel code failed: {content.get('ename')}: {content.get('evalue')}")

    def warm_up(self, kernel_name: str = KERNEL_NAME, code: str = WARM_UP_CODE, timeout: float = 120) -> None:
        """Start the kernel now and run ``code`` in it; the engine then reuses this kernel and its client.
        KernelWarmUpError (the kernel left shut down) when the code fails: the first notebook starts afresh."""
        self.start(kernel_name, timeout)
        self.run_silently(code, timeout)

    def fresh(self, kernel_name: str, cwd: str, timeout: float = 120) -> Any:
        """The kernel's client, the kernel started or reset (RESET_CODE) to what a fresh kernel started in ``cwd``
        would show. A kernel that cannot be reset is replaced by a new one: a notebook never runs in a kernel that
        may still hold the previous one's state."""
        self.start(kernel_name, timeout)
        try:
            self.run_silently(RESET_CODE.format(cwd=cwd), timeout)
        except KernelWarmUpError:  # shut down by run_silently
            self.start(kernel_name, timeout)
            self.run_silently(RESET_CODE.format(cwd=cwd), timeout)
        return self.kc

    def shutdown(self) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None
        if self.km is not None and self.km.has_kernel:
            run_sync(self.km.shutdown_kernel)(now=True)
        self.km = None
        if self.files is not None:
            shutil.rmtree(self.files, ignore_errors=True)
            self.files = None


WARM = _WarmKernel()
atexit.register(WARM.shutdown)


class WarmKernelEngine(NBClientEngine):
    """papermill engine 'kam-warm': nbclient execution in the worker's reused kernel."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: int | None = None,
        **kwargs: Any,
    ) -> Any:
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs,
            timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            extra_arguments=list(KERNEL_ARGUMENTS),
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        kc = WARM.fresh(kernel_name, os.getcwd(), timeout=start_timeout)  # papermill ran chdir(cwd) around us
        client = PapermillNotebookClient(nb_man, km=WARM.km, **final_kwargs)
        client.kc = kc
        try:
            return client.execute()
        finally:
            WARM.kc = client.kc
            WARM.runs += 1


def register() -> str:
    """Make the engine known to papermill in this process; returns its name."""
    papermill_engines.register(ENGINE_NAME, WarmKernelEngine)
    return ENGINE_NAME
