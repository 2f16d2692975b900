"""One exception hierarchy: every error the workspace raises derives from :class:`KamError`."""

from __future__ import annotations

from dataclasses import dataclass


class KamError(Exception):
    """Base of every error raised by kam_helpers."""


class ConfigError(KamError):
    """A setting, parameter or command-line option is not usable."""


def _one_line(exc: BaseException) -> list[str]:
    """What IPython (JupyterLab, papermill) shows for an error whose message says it all: that line, no frames."""
    return [f"{type(exc).__name__}: {exc}"]


class ParameterError(ConfigError):
    """A report's parameter (``parameter``: account_id, quarter, ...) names nothing the workspace holds data for;
    the message says what exists."""

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(message)

    _render_traceback_ = _one_line


class WorkspaceError(KamError):
    """The workspace store is missing, locked or not a KAM workspace."""


class UnknownAccountError(KamError):
    """An account id that the workspace does not hold."""

    _render_traceback_ = _one_line


class NoDataError(KamError):
    """The data needed for an answer is absent (a table or a period with no rows)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one value: where it is and what was expected."""

    file: str
    row: int | None  # 1-based line of the source file (header = line 1), None for a whole-file problem
    column: str | None
    value: str | None
    expected: str
    table: str = ""
    account_id: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column {self.column!r}"
        got = "" if self.value is None else f", got {self.value!r}"
        return f"{where}: expected {self.expected}{got}"


class DataValidationError(KamError):
    """Input data broke the data model; ``problems`` lists every value at fault."""

    def __init__(self, problems: list[Problem], context: str = "") -> None:
        self.problems = list(problems)
        head = f"{context}: " if context else ""
        shown = "\n  ".join(str(p) for p in self.problems[:20])
        more = f"\n  … and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(f"{head}{len(self.problems)} problem(s) in the data\n  {shown}{more}")


class ImportRefused(DataValidationError):
    """The import read everything but its outcome breaks the rule (too many rejected rows, an empty table);
    ``summary`` is what it would have loaded."""

    def __init__(self, problems: list[Problem], context: str, summary: str) -> None:
        super().__init__(problems, context)
        self.summary = summary


class FormatError(ConfigError):
    """An output format that the QBR pack does not know."""


class TemplateError(ConfigError):
    """A deck template that cannot be used (missing, not a .pptx, or without a layout with a title)."""


class UnsafePathError(KamError):
    """A file or folder name taken from the data (an id) that is not a safe name or would lie outside its folder."""


class KernelWarmUpError(KamError):
    """A batch worker's kernel could not be started and warmed up before its first account."""
