"""parse_mode handling: Telegram's plain text + entities, offsets in UTF-16 code units."""

from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.formatting import ParseError, command_entities, parse, utf16_len


def test_html_nested_links_and_utf16_offsets() -> None:
    text, entities = parse('🚧 <b>井盖 <i>缺失</i></b> <a href="https://x.test/c?a=1&amp;b=2">A1</a>',
                           "HTML")
    assert text == "🚧 井盖 缺失 A1"
    # the emoji is two UTF-16 code units, so everything after it shifts by one more
    assert entities == [
        {"type": "bold", "offset": 3, "length": 5},
        {"type": "italic", "offset": 6, "length": 2},
        {"type": "text_link", "offset": 9, "length": 2, "url": "https://x.test/c?a=1&b=2"},
    ]


def test_html_pre_with_language_and_entities() -> None:
    text, entities = parse('<pre><code class="language-python">x &lt; 1</code></pre>', "HTML")
    assert text == "x < 1"
    assert entities == [{"type": "pre", "offset": 0, "length": 5, "language": "python"}]


@pytest.mark.parametrize(("markup", "message"), [
    ("a <br> b", 'Unsupported start tag "br"'),
    ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<b>x</i>", "Unmatched end tag"),
    ("&nbsp;", "Unsupported HTML entity"),
    ('<span class="big">x</span>', 'Unsupported start tag "span"'),
])
def test_html_errors(markup: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse(markup, "HTML")


def test_markdown_v2() -> None:
    text, entities = parse(r"*粗体* _斜_ __下划线__ ~删~ ||剧透|| `a\`b` [链接](https://x.test/\))"
                           r" 1\.5\!", "MarkdownV2")
    assert text == "粗体 斜 下划线 删 剧透 a`b 链接 1.5!"
    assert [(e["type"], e["offset"], e["length"]) for e in entities] == [
        ("bold", 0, 2), ("italic", 3, 1), ("underline", 5, 3), ("strikethrough", 9, 1),
        ("spoiler", 11, 2), ("code", 14, 3), ("text_link", 18, 2)]
    assert entities[-1]["url"] == "https://x.test/)"
    text, entities = parse("```python\nprint(1)\n```", "MarkdownV2")
    assert text == "print(1)\n" and entities[0]["language"] == "python"


@pytest.mark.parametrize(("markup", "message"), [
    ("Case A.1", r"Character '\.' is reserved"),
    ("*open", "Can't find end of Bold entity"),
    ("(x)", r"Character '\(' is reserved"),
])
def test_markdown_v2_errors(markup: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse(markup, "MarkdownV2")


def test_legacy_markdown() -> None:
    assert parse("*b* _i_ [l](https://x.test) 1.5", "Markdown") == ("b i l 1.5", [
        {"type": "bold", "offset": 0, "length": 1},
        {"type": "italic", "offset": 2, "length": 1},
        {"type": "text_link", "offset": 4, "length": 1, "url": "https://x.test"}])
    with pytest.raises(ParseError, match="Can't find end of the entity"):
        parse("*open", "Markdown")


def test_command_entities() -> None:
    assert command_entities("/start abc") == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert command_entities("see /status@gridlink_bot A1") == [
        {"type": "bot_command", "offset": 4, "length": 20}]
    assert command_entities("a/b and http://x/y") == []


@given(st.text())
def test_escaped_html_is_the_text_itself(text: str) -> None:
    assert parse(html.escape(text, quote=False), "HTML") == (text, [])
    assert parse(text, None) == (text, [])


_V2_SPECIAL = "_*[]()~`>#+-=|{}.!\\"


@given(st.text())
def test_escaped_markdown_v2_is_the_text_itself(text: str) -> None:
    escaped = "".join("\\" + c if c in _V2_SPECIAL else c for c in text)
    assert parse(escaped, "MarkdownV2") == (text, [])


@given(st.text())
def test_utf16_len_matches_javascript_length(text: str) -> None:
    assert utf16_len(text) == sum(2 if ord(c) > 0xFFFF else 1 for c in text)
