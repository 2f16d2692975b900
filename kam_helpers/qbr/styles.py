"""The workspace's stylesheet carried by every HTML output of a notebook, scoped so that it styles nothing else.

The exported report and the Voilà pages load ``templates/report.css`` (and the apps ``voila.css``) for the whole
page; JupyterLab, nbconvert's own HTML and VS Code load neither. So every HTML fragment the QBR and the apps
display (cards, RAG badges, header, health, tables, notes, narrative) carries the rules it uses in a ``<style>``,
each selector put under the root class :data:`SCOPE` of the ``<div>`` that wraps the fragment: the same cards in
every front end, and no rule that could restyle JupyterLab around them. The rules are read from those two files,
the one source of truth: page-only rules (``body``, the page frame) are left out, ``:root`` and ``.kam-report``
become the scope, ``.kam-page X`` becomes ``.kam-scoped X``.

>>> '.kam-scoped .kam-rag.kam-red' in styled('<span class="kam-rag kam-red">red</span>')
True
"""

from __future__ import annotations

import functools
import re

from kam_helpers.core.paths import TEMPLATES_DIR

SCOPE = "kam-scoped"
SHEETS = (TEMPLATES_DIR / "report.css", TEMPLATES_DIR / "voila" / "templates" / "kam" / "voila.css")
ROOT_ALIASES = (":root", ".kam-report")  # selectors that become the scope itself
PAGE = ".kam-page"  # the page frame: '.kam-page X' → '.kam-scoped X'; '.kam-page' itself is left out

_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_CLASS = re.compile(r"\.([A-Za-z][\w-]*)")
_PSEUDO = re.compile(r"::?[\w-]+(\([^)]*\))?")
_TAG = re.compile(r"(?:^|[\s>+~])([a-z][a-z0-9]*)")
_CLASS_ATTR = re.compile(r'class="([^"]*)"')
_OPEN_TAG = re.compile(r"<([a-z][a-z0-9]*)")


Selector = tuple[str, frozenset[str], frozenset[str]]  # scoped selector, classes and tags it needs


@functools.lru_cache(maxsize=1)
def _rules() -> tuple[tuple[tuple[Selector, ...], str], ...]:
    """The sheets → (scoped selectors, declarations) per rule, in the sheets' order; each selector with the
    classes and tags an element must have for it to matter (the scope's own aliases not counted)."""
    out = []
    for sheet in SHEETS:
        text = _COMMENT.sub("", sheet.read_text(encoding="utf-8"))
        for block in text.split("}"):
            if "{" not in block:
                continue
            selectors, body = block.split("{", 1)
            scoped = tuple(s for s in (_scope(sel.strip()) for sel in selectors.split(",")) if s is not None)
            if scoped:
                out.append((scoped, " ".join(body.split())))
    return tuple(out)


def _scope(selector: str) -> Selector | None:
    """One selector of the sheets → (scoped selector, classes it needs, tags it needs); None for page-only ones."""
    if selector.startswith("body") or (selector.startswith(PAGE) and not selector.startswith(PAGE + " ")):
        return None
    if selector in ROOT_ALIASES:
        return f".{SCOPE}", frozenset(), frozenset()
    inner = selector[len(PAGE) + 1 :] if selector.startswith(PAGE + " ") else selector
    plain = _PSEUDO.sub("", _CLASS.sub("", inner))
    return f".{SCOPE} {inner}", frozenset(_CLASS.findall(inner)), frozenset(_TAG.findall(plain))


def stylesheet(fragment: str | None = None) -> str:
    """The scoped rules that can apply inside ``fragment`` (its classes and tags), or every scoped rule (None)."""
    classes = {c for attr in _CLASS_ATTR.findall(fragment) for c in attr.split()} if fragment is not None else set()
    tags = set(_OPEN_TAG.findall(fragment)) if fragment is not None else set()
    css = []
    for selectors, body in _rules():
        kept = [s for s, need, need_tags in selectors if fragment is None or (need <= classes and need_tags <= tags)]
        if kept:
            css.append(f"{', '.join(kept)} {{ {body} }}")
    return "\n".join(css)


def styled(fragment: str) -> str:
    """An HTML fragment → the same inside ``<div class="kam-scoped">`` with the scoped rules it uses."""
    return f'<div class="{SCOPE}"><style>{stylesheet(fragment)}</style>{fragment}</div>'
