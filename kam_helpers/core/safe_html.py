"""Data reaches HTML only as text: Markdown escaping, Markdown → sanitised HTML, and the pages' CSP.

The narrative is Markdown written by Jinja templates. Every value a template prints goes through
:func:`md_escape` (the narrative environment's ``finalize``), so text from the data — an account name
``<script>…``, a lane ``[x](javascript:…)`` — can never become markup, a link or an image: it renders as
the same characters. :func:`markdown_to_html` then renders that Markdown with markdown-it-py with raw HTML
turned off and passes the result through nh3 (the Ammonia sanitiser) with an allowlist of the few tags
Markdown produces: a second, independent line of defence. :func:`md_plain` turns the Markdown back into
the plain text a deck or a PDF shows.

The HTML report, the book-of-business page and the Voilà apps carry a Content-Security-Policy
(:data:`REPORT_CSP`, :data:`APP_CSP`): no script runs in a report, and the apps run only Voilà's own
scripts from the server.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import markupsafe
import nh3
from markdown_it import MarkdownIt

# Characters with a meaning in (CommonMark / GFM) Markdown inside a line: HTML and autolinks (<, >, &), links
# and images ([, ]), emphasis and code (*, _, `, ~), tables (|), headings (#) and the escape itself (\).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&])")
_LINE_BREAKS = re.compile(r"\s*[\r\n\u2028\u2029]+\s*")
# In Markdown → plain text: an escaped character, or an unescaped emphasis / code marker to drop.
_PLAIN = re.compile(r"\\([!-/:-@\[-`{-~])|\*\*|__|`")

ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "del", "code", "pre",
    "blockquote", "table", "thead", "tbody", "tr", "th", "td", "a", "div",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"style"}, "td": {"style"}, "ol": {"start"}, "div": {"class"}}
URL_SCHEMES = {"http", "https", "mailto"}

# The offline HTML report and the book-of-business page: nothing but their own inline styles and data: images.
REPORT_CSP = "; ".join(
    (
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src data:",
        "font-src data:",
        "base-uri 'none'",
        "form-action 'none'",
    )
)
# The Voilà apps: Voilà's scripts, styles, fonts and kernel websocket from the server itself, no inline script
# (the workspace's Voilà template has none) except, by its hash, the keep-alive `window.voila_heartbeat()`
# that Voilà's server sends while a cell runs long; the Vega bundled with Voilà 0.5.13 compiles its field
# accessors with `Function` ('unsafe-eval': without it no chart draws and the page never shows, measured in
# Chromium), JupyterLab injects <style> elements ('unsafe-inline' for styles only), charts and
# downloads use data: and blob: URLs. templates/voila/templates/kam/*.html carry it (a test keeps them equal).
HEARTBEAT_SHA256 = "'sha256-m16tKAZfrqdfaIlK4k9Uc4bmwJm0z0f+0b2ahSGv/Ko='"  # of "window.voila_heartbeat()"
APP_CSP = "; ".join(
    (
        "default-src 'none'",
        f"script-src 'self' 'unsafe-eval' {HEARTBEAT_SHA256}",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'self'",
        "form-action 'self'",
    )
)


def md_escape(value: Any) -> str:
    """A value → Markdown that renders as exactly its text, on one line (Markup from a template is kept).

    >>> md_escape("<img src=x onerror=alert(1)> [a](javascript:x) *b*")
    '\\\\<img src=x onerror=alert(1)\\\\> \\\\[a\\\\](javascript:x) \\\\*b\\\\*'
    """
    if isinstance(value, markupsafe.Markup):
        return str(value)
    return _MD_SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ", str(value)))


def md_plain(markdown: str) -> str:
    """One line of Markdown → its plain text: escapes resolved, ``**``, ``__`` and backticks dropped.

    >>> md_plain(r"**On time** for \\<b\\> \\& co")
    'On time for <b> & co'
    """
    return _PLAIN.sub(lambda m: m.group(1) or "", markdown)


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table").enable("strikethrough")


def sanitize(html: str) -> str:
    """HTML → the same HTML with only :data:`ALLOWED_TAGS` and their allowed attributes (nh3): no script,
    no event handler, no style element, no javascript: or data: link."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        filter_style_properties={"text-align"},
    )


def markdown_to_html(markdown: str) -> str:
    """Markdown → sanitised HTML (markdown-it-py, raw HTML off, then :func:`sanitize`)."""
    return sanitize(_markdown().render(markdown))


def csp_meta(policy: str = REPORT_CSP) -> markupsafe.Markup:
    """A CSP → the ``<meta http-equiv="Content-Security-Policy">`` element that carries it in a page."""
    return markupsafe.Markup('<meta http-equiv="Content-Security-Policy" content="{}">').format(policy)
