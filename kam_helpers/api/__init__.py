"""The analyst's Python API: ``import kam_helpers as kam``, then ``ws = kam.open()``.

These names are the contract (docs/API.md is generated from their docstrings by ``make docs``):
:func:`open` → :class:`Workspace` (``accounts()``, ``account(id)``, ``compare(ids, quarter)``, ``query(sql)``)
→ :class:`Account` (``shipments(q)``, ``scorecard(q)``, ``series(kpi, freq)``, ``qbr(q)``), and
:func:`write_excel` for the analyst's own workbooks. Every figure comes from the same code as the reports.

The examples run in the test suite against the tiny fixture workspace (tests/fixtures/tiny: accounts A1 and
A2, data to 29 Sep 2026) opened by ``kam.open()``.
"""

from kam_helpers.api.account import Account
from kam_helpers.api.excel import write_excel
from kam_helpers.api.workspace import Workspace, open

__all__ = ["open", "Workspace", "Account", "write_excel"]
