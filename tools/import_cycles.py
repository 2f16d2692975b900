"""Fail when kam_helpers has an import cycle between its modules (imports under ``if TYPE_CHECKING:`` aside).

    python tools/import_cycles.py      # `make lint` runs it; prints each cycle and exits 1, or says there is none

The layers contract in pyproject.toml (import-linter) keeps imports flowing down between sub-packages; this
check also covers modules of the same sub-package, which the layers contract leaves free. The import graph
comes from grimp, which import-linter installs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping

import grimp

PACKAGE = "kam_helpers"


def import_graph(package: str = PACKAGE) -> dict[str, set[str]]:
    """Package name → {module: the modules of the package it imports directly}, type-only imports left out."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """{module: imported modules} → each group of modules that import one another in a circle (the strongly
    connected components with more than one module, or one that imports itself), each sorted, in name order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:  # Tarjan's algorithm, iterative so deep graphs do not hit the recursion limit
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1 or node in edges.get(node, ()):
                    found.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return sorted(found)


def main() -> int:
    found = cycles(import_graph())
    for group in found:
        print(f"import cycle between {len(group)} modules: {', '.join(group)}")
    if not found:
        print(f"no import cycle between {PACKAGE} modules")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
