"""Where `kam sample`'s time goes: the sample book generated and its store built, phase by phase, in wall and
CPU seconds (CPU above wall means both cores worked), with the process's peak memory at the end.

    python benchmarks/profile_build.py DIR [--accounts 200] [--shipments 3000000] [--from-files] [--profile]

Writes the exports to DIR/sample and the store to DIR/workspace (DIR is created; delete it afterwards).
Each phase is a function of the build wrapped with a timer; nested phases are indented under the one that
calls them. CPU seconds are the process's: phases that run at the same time (the exports are written in a
thread while the store is built) each count the other's too. ``--from-files`` builds the store the way it
was built before `kam sample` loaded it from the generated tables: exports written, then read back.
``--profile`` also prints the cProfile of the whole run (top 25 by cumulative time).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_depth = threading.local()  # nesting per thread: the exports' writer thread has its own
_rows: list[tuple[int, str, float, float]] = []


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """A function → the same function that records its wall and CPU seconds under ``name``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        label, second = name, args[1] if len(args) > 1 else None
        if isinstance(second, str) or hasattr(second, "name"):
            label = f"{name}({getattr(second, 'name', second)})"
        depth = getattr(_depth, "n", 0)
        index = len(_rows)
        _rows.append((depth, label, 0.0, 0.0))
        _depth.n = depth + 1
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            _depth.n = depth
            _rows[index] = (_rows[index][0], label, time.perf_counter() - wall, time.process_time() - cpu)

    return wrapper


def _instrument() -> None:
    """Wrap the build's phases (each module's own name for the function, so callers see the wrapper)."""
    from kam_helpers.data import sources, store, validate
    from kam_helpers.devtools import sample_book, sample_store

    phases: dict[Any, list[str]] = {
        sample_book: ["_tables", "_write_csv", "make_shipments", "make_invoices", "make_cases", "_planted"],
        sample_store: ["draw_book", "write_book", "build_workspace", "folder_sources"],
        sources: ["load_csv", "folder_sources"],
        store: [
            "validate_table",
            "check_references",
            "problems",
            "_write_rejected_rows",
            "publish_table",
            "_write_meta",
            "_write_fingerprints",
            "content_digest",
        ],
        validate: ["record_periods", "_check_keys"],
    }
    for module, names in phases.items():
        for name in names:
            if hasattr(module, name):
                setattr(module, name, _timed(name, getattr(module, name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--shipments", type=int, default=3_000_000)
    parser.add_argument("--from-files", action="store_true", help="build from the written exports (as before)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    _instrument()
    from kam_helpers.data.sources import folder_loader
    from kam_helpers.data.store import build_workspace
    from kam_helpers.devtools.sample_book import generate_book
    from kam_helpers.devtools.sample_store import sample_workspace

    exports, workspace = args.folder / "sample", args.folder / "workspace"
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    started, cpu_started = time.perf_counter(), time.process_time()
    if args.from_files:
        _timed("generate_book", generate_book)(exports, accounts=args.accounts, shipments=args.shipments)
        _timed("build_workspace", build_workspace)(workspace, folder_loader(exports))
    else:
        sample_workspace(exports, workspace, accounts=args.accounts, shipments=args.shipments)
    total_wall, total_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if profiler:
        profiler.disable()
    print(f"{'phase':<52} {'wall s':>8} {'CPU s':>8}")
    for depth, label, wall, cpu in _rows:
        print(f"{'  ' * depth + label:<52} {wall:8.2f} {cpu:8.2f}")
    print(f"{'total':<52} {total_wall:8.2f} {total_cpu:8.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak memory (this process): {peak:.2f} GB")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
