"""The `kam` command: sample, validate, qbr, import, export-sql, accounts, schema, serve, where."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kam_helpers.core import paths
from kam_helpers.core.errors import DataValidationError, KamError
from kam_helpers.core.quarters import Quarter

if TYPE_CHECKING:
    import pandas as pd


def _cmd_sample(args: argparse.Namespace) -> int:
    from kam_helpers.devtools.sample_book import generate_book
    from kam_helpers.devtools.sample_store import sample_workspace

    end = Quarter.parse(args.end_quarter) if args.end_quarter else None
    out = Path(args.out) if args.out else paths.sample_dir()
    book = dict(
        accounts=args.accounts, end_quarter=end, quarters=args.quarters, shipments=args.shipments, seed=args.seed
    )
    report = None
    if args.no_load:
        summary = generate_book(out, **book)
    else:  # the store is built from the generated tables while their exports are written
        workspace = Path(args.workspace) if args.workspace else paths.default_workspace()
        summary, report = sample_workspace(out, workspace, **book)
    rows = ", ".join(f"{n:,} {t}" for t, n in summary.rows.items())
    print(
        f"Sample book of business written to {out}: {summary.accounts} accounts, "
        f"{summary.quarters[0]}–{summary.quarters[-1]}; {rows}"
    )
    if report is not None:
        print(report.summary())
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    import tempfile

    from kam_helpers.data.sources import changed_sources, folder_loader
    from kam_helpers.data.store import Workspace, build_workspace

    if args.source:
        import duckdb

        with tempfile.TemporaryDirectory() as tmp:
            try:
                report = build_workspace(Path(tmp), folder_loader(Path(args.source)))
            except duckdb.Error as exc:  # a case the loader's own diagnosis does not name
                print(f"kam validate: {args.source}: the exports cannot be read ({str(exc).splitlines()[0]})",
                      file=sys.stderr)  # fmt: skip
                return 2
        found = report.problems
        print(f"{args.source}: " + ", ".join(f"{n:,} {t}" for t, n in report.rows.items()))
    else:
        with Workspace.open(args.workspace) as ws:
            found = ws.problems()
            stale = changed_sources(ws.sources)
            print(f"Workspace {ws.folder}: tables {', '.join(sorted(ws.tables))}; data as of {ws.as_of}")
            if stale:
                print("Changed since the last load (kam qbr reloads them): " + ", ".join(stale))
    if not found:
        print("No problems found.")
        return 0
    print(f"{len(found)} problem(s):")
    for p in found:
        print(f"  [{p.table}] {p}" + (f"  (account {p.account_id})" if p.account_id else ""))
    return 1


def _cmd_qbr(args: argparse.Namespace) -> int:
    from kam_helpers.batch.driver import run_batch, start_worker_parent
    from kam_helpers.batch.publish import is_remote

    if not args.scheduler:
        start_worker_parent()  # the workers' parent imports while this process checks and scans the workspace
    from kam_helpers.data.sources import refresh_if_stale
    from kam_helpers.data.warehouse import is_warehouse

    workspace = Path(args.workspace) if args.workspace else paths.default_workspace()
    note = None if is_warehouse(workspace) else refresh_if_stale(workspace)
    if note:
        print(note)
    accounts = args.accounts.split(",") if args.accounts else None
    result = run_batch(
        args.quarter,
        accounts,
        workers=args.workers,
        workspace=workspace,
        out=args.out,
        force=args.force,
        formats=args.formats,
        template=args.template,
        scheduler=args.scheduler,
        progress=not args.quiet,
        as_of=args.as_of or "",
    )
    done = [r for r in result.results if r.status == "ok"]
    skipped = sum(r.skipped for r in done)
    print(
        f"QBR {result.quarter}: {len(done)} of {len(result.results)} accounts ok"
        + (f" ({skipped} unchanged, not rendered again)" if skipped else "")
        + f" in {result.seconds:.1f} s"
    )
    for r in result.failed:
        cell = f" (cell {r.failed_cell['index']}: {r.failed_cell['source']})" if r.failed_cell else ""
        print(f"FAILED {r.account_id}{cell}\n  {r.error}")
    print(f"Manifest: {result.manifest}\nIndex:    {result.index}")
    if is_remote(args.out):
        print(f"Published to {args.out} (the manifest and index above are this machine's copies)")
    return 1 if result.failed else 0


def _cmd_import(args: argparse.Namespace) -> int:
    from kam_helpers.core.errors import ImportRefused
    from kam_helpers.data.import_report import refusal_text
    from kam_helpers.data.importer import import_source

    workspace = Path(args.workspace) if args.workspace else paths.default_workspace()
    try:
        report = import_source(
            args.source,
            args.mapping,
            workspace,
            strict=args.strict,
            url_env=args.url_env,
            dry_run=args.dry_run,
            max_rejected=args.max_rejected,
            allow_partial=args.allow_partial,
        )
    except DataValidationError as exc:
        if isinstance(exc, ImportRefused):
            print(exc.summary)
        unchanged = "dry run: nothing was written" if args.dry_run else "Nothing was changed"
        print(f"kam import: {refusal_text(exc)}\n{unchanged}: the workspace {workspace} is as it was.", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


def _cmd_export_sql(args: argparse.Namespace) -> int:
    from kam_helpers.data.warehouse import export_to_warehouse

    workspace = Path(args.workspace) if args.workspace else paths.default_workspace()
    copied = export_to_warehouse(workspace, args.target)
    print(f"Copied {len(copied)} tables of {workspace} into {args.target}: "
          + ", ".join(f"{t} {n:,}" for t, n in copied.items()))  # fmt: skip
    return 0


def _cmd_accounts(args: argparse.Namespace) -> int:
    from kam_helpers.data.store import Workspace

    with Workspace.open(args.workspace) as ws:
        frame = ws.accounts()[["account_id", "name", "industry", "tier", "owner", "contract_end"]]
    print(blank_missing(frame).to_string(index=False))
    return 0


def blank_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame → the same as text for printing: dates as YYYY-MM-DD, missing values blank (never None / NaT)."""
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
        out[col] = out[col].astype(object).where(out[col].notna(), "").astype(str)
    return out


def _cmd_schema(args: argparse.Namespace) -> int:
    from kam_helpers.data.schema import markdown_reference

    print(markdown_reference())
    return 0


def _cmd_where(args: argparse.Namespace) -> int:
    if args.what == "index":
        if args.quarter:
            quarter = Quarter.parse(args.quarter)
        else:
            from kam_helpers.data.store import Workspace

            with Workspace.open(args.workspace) as ws:
                quarter = ws.last_complete_quarter()
        print(paths.reports_dir() / str(quarter) / "index.html")
    else:
        print(paths.default_workspace() if args.what == "workspace" else paths.reports_dir())
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from kam_helpers.apps.server import APPS, WARM_SLOTS, ServeOptions, check_host_name, serve

    pools = {name: args.pool_size for name in APPS} if args.pool_size is not None else dict(APPS)
    return serve(
        ServeOptions(
            port=args.port,
            workspace=Path(args.workspace) if args.workspace else None,
            pools=pools,
            cull_idle_timeout=args.cull_idle,
            warm_slots=args.warm_slots if args.warm_slots is not None else WARM_SLOTS,
            allow_hosts=tuple(check_host_name(h) for h in args.allow_host),
        )
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kam", description="KAM Workspace: QBR packs for every key account.")
    sub = parser.add_subparsers(dest="command", required=True)

    def ws_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--workspace",
            default=None,
            help="workspace folder (default: data/workspace), or env:VAR for a warehouse whose SQLAlchemy URL is in $VAR",
        )

    p = sub.add_parser("sample", help="generate the sample book of business and load it into the workspace")
    p.add_argument("--accounts", type=int, default=12, help="number of accounts (default 12)")
    p.add_argument("--end-quarter", default=None, help="last quarter of the data, e.g. 2026Q3 (default: last complete)")
    p.add_argument("--quarters", type=int, default=8, help="quarters of history (default 8)")
    p.add_argument("--shipments", type=int, default=None, help="total shipments in the book (default: realistic)")
    p.add_argument("--seed", type=int, default=7, help="random seed (same seed, same book)")
    p.add_argument("--out", default=None, help="folder for the CSV exports (default: data/sample)")
    p.add_argument("--no-load", action="store_true", help="write the CSV exports only")
    ws_option(p)
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("validate", help="report every problem in the workspace (or in a folder of exports)")
    p.add_argument("source", nargs="?", help="a folder of <table>.csv exports to check without loading it")
    ws_option(p)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("qbr", help="render the QBR of every account for a quarter")
    p.add_argument("--quarter", default=None, help="e.g. 2026Q3 (default: the last complete quarter in the data)")
    p.add_argument("--accounts", default=None, help="comma-separated account ids (default: all with shipments)")
    p.add_argument("--workers", type=int, default=2, help="parallel workers (default 2; with --scheduler local too)")
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on the Dask cluster of this scheduler (tcp://host:8786), or 'local' for a LocalCluster here",
    )
    p.add_argument("--out", default=None, help="output folder (default: reports/<quarter>)")
    p.add_argument("--force", action="store_true", help="render again even when inputs are unchanged")
    p.add_argument("--formats", default="html,pptx,xlsx,pdf", help="files of the pack (default: html,pptx,xlsx,pdf)")
    p.add_argument("--template", default=None, help="company PowerPoint template (.pptx) for the decks")
    p.add_argument(
        "--as-of",
        default=None,
        help="judge the data as of this date, e.g. 2026-08-30 (default: its newest event; docs/PERIODS.md)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    ws_option(p)
    p.set_defaults(func=_cmd_qbr)

    p = sub.add_parser("import", help="load your exports (CSV/Excel/Parquet, or a SQL database) through a mapping")
    p.add_argument("source", nargs="?", help="folder or file of exports, or env:VAR for a SQLAlchemy URL held in $VAR")
    p.add_argument("--mapping", required=True, help="mapping YAML (see data/mappings/example.yml)")
    p.add_argument("--url-env", default=None, help="read from the database whose SQLAlchemy URL is in this variable")
    p.add_argument("--strict", action="store_true", help="refuse the whole import if any row fails")
    p.add_argument(
        "--dry-run", action="store_true", help="read and check everything, write nothing, print what would load"
    )
    p.add_argument(
        "--max-rejected",
        default="5%",
        help="rejected source rows a table may have before the import fails: a count (20) or a share (5%%, the default)",
    )
    p.add_argument(
        "--allow-partial",
        action="store_true",
        help="load what can be loaded even when a table has more rejected rows than --max-rejected or none left",
    )
    ws_option(p)
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser(
        "export-sql", help="copy the workspace's tables into a SQL warehouse (kam qbr --workspace env:VAR)"
    )
    p.add_argument("target", help="env:VAR, VAR holding the warehouse's SQLAlchemy URL")
    ws_option(p)
    p.set_defaults(func=_cmd_export_sql)

    p = sub.add_parser("accounts", help="list the accounts of the workspace")
    ws_option(p)
    p.set_defaults(func=_cmd_accounts)

    p = sub.add_parser("schema", help="print the data model as Markdown")
    p.set_defaults(func=_cmd_schema)

    p = sub.add_parser(
        "serve", help="serve the workspace's apps (explorer, book of business, QBR) with Voilà on 127.0.0.1"
    )
    p.add_argument("--port", type=int, default=8866, help="port on 127.0.0.1 (default 8866)")
    p.add_argument("--pool-size", type=int, default=None, help="preheated kernels per app (default: 1-2 per app)")
    p.add_argument(
        "--warm-slots",
        type=int,
        default=None,
        help="preheated kernels that warm up at the same time (default 1: the others wait their turn)",
    )
    p.add_argument(
        "--cull-idle",
        type=int,
        default=60,
        help="seconds before the idle kernel of a closed page is shut down (default 60)",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also accept this Host header, e.g. a proxy's name (default: 127.0.0.1 and localhost only; repeatable)",
    )
    ws_option(p)
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("where", help="print where the index, workspace or reports are")
    p.add_argument("what", choices=["index", "workspace", "reports"])
    p.add_argument("--quarter", default=None)
    ws_option(p)
    p.set_defaults(func=_cmd_where)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DataValidationError as exc:
        print(f"kam {args.command}: {exc}", file=sys.stderr)
        return 2
    except KamError as exc:
        print(f"kam {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
