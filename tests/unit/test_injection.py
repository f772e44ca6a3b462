"""User-supplied text (holder names, CNs, listener names) is data in every output format that could
read it as code: CSV cells are never spreadsheet formulas (OWASP "CSV Injection"), markdown notices
(DingTalk, WeCom) render it as the same text, never as emphasis, links, headings or HTML."""
from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from shared.policy.notify import (
    Channel,
    DingTalkChannel,
    LarkChannel,
    Notice,
    WebhookChannel,
    WeComChannel,
    build_http,
    markdown_escape,
)
from shared.steps.inventory import COLUMNS, csv_cell, to_csv

ATTACKS = ["=HYPERLINK(\"http://evil.test\",\"x\")", "@SUM(1+1)", "+1+1", "-2+3", "\tx", "\rx",
           "=cmd|' /C calc'!A0"]
MD_EXTRA = ["&copy; &#x41;", "a&amp;b"]


@pytest.mark.parametrize("value", ATTACKS)
@pytest.mark.parametrize("column", [c for c in COLUMNS if c != "days_left"])
def test_no_csv_cell_starts_a_formula(value, column):
    doc = {"rows": [{c: "x" for c in COLUMNS} | {column: value, "days_left": -3.5}]}
    row = list(csv.reader(io.StringIO(to_csv(doc))))[1]
    cell = row[COLUMNS.index(column)]
    assert cell == "'" + value
    assert row[COLUMNS.index("days_left")] == "-3.5"    # a number stays a number


@given(st.text())
def test_csv_cell_of_any_text(value):
    cell = csv_cell(value)
    assert not str(cell).startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell in (value, "'" + value)


_MD = MarkdownIt("commonmark")


def _rendered_as_text(source: str) -> str | None:
    """The text ``source`` renders to when it holds nothing but plain paragraphs, else ``None``."""
    tokens = _MD.parse(source)
    text = []
    for t in tokens:
        if t.type in ("paragraph_open", "paragraph_close"):
            continue
        if t.type != "inline":
            return None
        for c in t.children or []:
            if c.type == "text":
                text.append(c.content)
            elif c.type == "softbreak":
                text.append("\n")
            else:
                return None
    return "".join(text)


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1)
       .filter(lambda s: s.strip() == s and s.strip()))
def test_markdown_escape_renders_the_same_text(value):
    assert _rendered_as_text(markdown_escape(value)) == value


@pytest.mark.parametrize("value", MD_EXTRA + ATTACKS[:4] + ["1. x", "# h", "> q", "***", "<b>x</b>", "a  \\"])
def test_markdown_escape_of_each_construct(value):
    assert _rendered_as_text(markdown_escape(value)) == value


HOLDER = "**URGENT** [reset here](http://evil.test/login) <img src=x> `x` # h"
CHANNELS: list[Channel] = [
    DingTalkChannel(name="d", url="https://oapi.dingtalk.com/robot/send?access_token=T"),
    WeComChannel(name="w", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"),
    LarkChannel(name="l", url="https://open.feishu.cn/open-apis/bot/v2/hook/x"),
    WebhookChannel(name="h", url="https://hooks.example.test/a", secret="whsec_" + "a" * 40),
]


def _markdown_of(ch: Channel, body: dict) -> str | None:
    if isinstance(ch, DingTalkChannel):
        return body["markdown"]["text"]
    if isinstance(ch, WeComChannel):
        return body["markdown"]["content"]
    return None


@pytest.mark.parametrize("ch", CHANNELS, ids=lambda c: type(c).__name__)
def test_every_channel_shows_a_holder_name_as_text(ch):
    n = Notice(kind="renewal_failed", audience="operators", title=f"{HOLDER}: renewal failed",
               text=f"{HOLDER}: renewal failed\n- {HOLDER}\n1. x", id="msg_1")
    body = json.loads(build_http(ch, n, 1_700_000_000_000).body)
    md = _markdown_of(ch, body)
    if md is None:          # Lark "text" and the signed webhook carry plain text / JSON: nothing renders it
        assert HOLDER in json.dumps(body, ensure_ascii=False)
        return
    html = _MD.render(md)
    assert "<a " not in html and "<strong>" not in html and "<img" not in html and "<code>" not in html
    assert "<ul>" not in html and "<ol>" not in html
    lines = md.split("\n\n", 1)[1]
    assert _rendered_as_text(lines) == n.text
