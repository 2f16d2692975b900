"""Tests of kam_helpers.core.safe_html: data reaches HTML only as text, and every page carries its CSP."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from kam_helpers.apps.server import security_headers
from kam_helpers.core.paths import TEMPLATES_DIR
from kam_helpers.core.safe_html import APP_CSP, REPORT_CSP, markdown_to_html, md_escape, md_plain, sanitize
from kam_helpers.exports.html import notebook_to_html
from kam_helpers.qbr import narrative
from kam_helpers.qbr.report import NarrativeView

HOSTILE = [
    "<script>alert(1)</script><img src=x onerror=alert(2)>",
    "<img src=x onerror=alert(4)>",
    '"><svg onload=alert(3)>',
    "[click](javascript:alert(6))",
    "![x](http://example.invalid/x.png)",
    "<http://example.invalid>",
    "&lt;script&gt; & co",
    "**not bold** _nor this_ `nor code` ~~nor struck~~",
    "| a | table |",
    "# not a heading",
    "a\\<b> c\\",
    "two\nlines\r\nhere",
]
VOILA_PAGES = TEMPLATES_DIR / "voila" / "templates" / "kam"


class Tags(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.data: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.data.append(data)


@pytest.mark.parametrize("value", HOSTILE)
def test_an_escaped_value_renders_as_exactly_its_text(value: str) -> None:
    one_line = re.sub(r"\s*[\r\n]+\s*", " ", value)
    rendered = markdown_to_html(f"Account {md_escape(value)} ends here.")
    page = Tags(rendered)
    assert [t for t, _ in page.tags] == ["p"], rendered  # no link, image, emphasis, code, table or heading
    assert "".join(page.data).strip() == f"Account {one_line} ends here."
    assert md_plain(md_escape(value)) == one_line  # and the deck / PDF show the same text


def test_template_markup_survives_and_values_do_not() -> None:
    env = narrative._environment(None)
    body = env.from_string(
        "## {{ name }}\n\n- **On time**: {{ x|pct }} on {{ lane }}\n- [report]({{ url }})\n\n| a | b |\n|---|--:|\n| {{ name }} | 1 |\n"
    ).render(name=HOSTILE[0], x=95.04, lane=HOSTILE[3], url="https://example.invalid/q")
    rendered = markdown_to_html(body)
    tags = [t for t, _ in Tags(rendered).tags]
    assert {"h2", "ul", "li", "strong", "table", "td", "a"} <= set(tags)
    assert "script" not in tags and "img" not in tags and "svg" not in tags
    assert "95.0%" in body  # formatted figures are not escaped (no Markdown character in them)
    links = [a.get("href") for t, a in Tags(rendered).tags if t == "a"]
    assert links == ["https://example.invalid/q"]  # the template's own link; the data's stays text
    assert html.escape(HOSTILE[0], quote=False) in rendered


@pytest.mark.parametrize(
    "dirty, kept, gone",
    [
        ('<p onclick="x()">a<script>alert(1)</script></p>', "<p>a</p>", "script"),
        ('<img src="x" onerror="alert(1)">', "", "img"),
        ('<a href="javascript:alert(1)">a</a>', "<a", "javascript:"),
        ('<a href="data:text/html,x">a</a>', "<a", "data:"),
        ("<style>body{}</style><p>t</p>", "<p>t</p>", "style"),
        ('<table><tr><td style="text-align: right; background: url(x)">1</td></tr></table>', "text-align", "url("),
        ('<svg onload="alert(3)"></svg>', "", "svg"),
    ],
)
def test_sanitize_keeps_only_what_markdown_produces(dirty: str, kept: str, gone: str) -> None:
    clean = sanitize(dirty)
    assert kept in clean and gone not in clean


def test_a_narrative_section_is_shown_as_sanitised_html() -> None:
    view = NarrativeView(f"## Title\n\n- {md_escape(HOSTILE[0])}\n<script>alert(9)</script>")
    bundle = view._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/markdown", "text/plain"}
    page = Tags(bundle["text/html"])
    assert {t for t, _ in page.tags} <= {"div", "h2", "ul", "li", "p", "style"}  # style: the scoped stylesheet
    assert HOSTILE[0] in "".join(page.data) and "alert(9)" in "".join(page.data)


def test_the_report_escapes_its_footer_and_carries_the_csp() -> None:
    nb = new_notebook(
        cells=[new_code_cell("x", outputs=[new_output("display_data", data={"text/html": "<b>shown</b>"})])]
    )
    page = notebook_to_html(nbformat.from_dict(nb), title=HOSTILE[0], footer=HOSTILE[1])
    parsed = Tags(page)
    assert not [t for t, _ in parsed.tags if t in ("script", "img", "svg")]
    assert HOSTILE[1] in "".join(parsed.data) and HOSTILE[0] in "".join(parsed.data)
    metas = [a for t, a in parsed.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert [m["content"] for m in metas] == [REPORT_CSP]
    assert page.index("Content-Security-Policy") < page.index("<style")


def test_every_html_template_environment_autoescapes() -> None:
    from kam_helpers.apps import panels
    from kam_helpers.batch import index as portfolio_index
    from kam_helpers.qbr import report

    for env in (report._env, panels._cards.environment, portfolio_index._env()):
        assert env.autoescape is True
        assert "<b>" not in env.from_string("{{ x }}").render(x="<b>x</b>")
    # the narrative's environment writes Markdown: it escapes for Markdown instead (md_escape as finalize)
    assert narrative._environment(None).from_string("{{ x }}").render(x="<b>x</b>") == md_escape("<b>x</b>")


def test_voila_pages_carry_the_app_csp_and_no_inline_script() -> None:
    for name in ("index.html.j2", "page.html"):
        text = (VOILA_PAGES / name).read_text(encoding="utf-8")
        assert re.findall(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text) == [APP_CSP], name
        for tag in re.findall(r"<script[^>]*>", text):
            assert "src=" in tag or 'type="application/' in tag, f"{name}: inline script {tag}"
    assert "'unsafe-inline'" not in APP_CSP.split("script-src", 1)[1].split(";", 1)[0]
    assert security_headers()["Content-Security-Policy"].startswith(APP_CSP + "; frame-ancestors")
    assert "script-src" not in REPORT_CSP and "default-src 'none'" in REPORT_CSP  # no script at all
