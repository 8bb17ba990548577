"""Text formatting as Telegram does it: parse_mode → plain text + entities, command entities.

Offsets and lengths are in UTF-16 code units, as in the Bot API. Parsing errors carry
Telegram's wording so a bot that sends bad markup fails here the way it would in production.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

Entity = dict[str, Any]


class ParseError(Exception):
    """Markup Telegram would refuse with "Bad Request: can't parse entities: …"."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")


def command_entities(text: str) -> list[Entity]:
    """`bot_command` entities the Telegram client adds to a typed text (CommandHandler needs them)."""
    return [
        {"type": "bot_command", "offset": utf16_len(text[: m.start()]),
         "length": utf16_len(m.group())}
        for m in _COMMAND.finditer(text)
    ]


def parse(text: str, parse_mode: str | None) -> tuple[str, list[Entity]]:
    """Plain text and entities for `text` in `parse_mode` (None, HTML, MarkdownV2, Markdown)."""
    if not parse_mode:
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _parse_markdown(text, v2=True)
    if mode == "markdown":
        return _parse_markdown(text, v2=False)
    raise ParseError(f"Unsupported parse_mode {parse_mode!r}")


# --- HTML -------------------------------------------------------------------------------------

_HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class _HtmlToEntities(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=False)
        self.source = source
        self.out: list[str] = []
        self.length = 0  # UTF-16 units written so far
        self.open: list[tuple[str, int, dict[str, str | None]]] = []
        self.entities: list[Entity] = []

    def _byte_offset(self) -> int:
        line, col = self.getpos()
        lines = self.source.split("\n")
        prefix = "\n".join(lines[: line - 1]) + ("\n" if line > 1 else "") + lines[line - 1][:col]
        return len(prefix.encode())

    def _write(self, data: str) -> None:
        self.out.append(data)
        self.length += utf16_len(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_TAGS:
            raise ParseError(f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}')
        attributes = dict(attrs)
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            raise ParseError(f'Unsupported start tag "span" at byte offset {self._byte_offset()}')
        if tag == "a" and not attributes.get("href"):
            raise ParseError(f"Can't find link URL at byte offset {self._byte_offset()}")
        self.open.append((tag, self.length, attributes))

    def handle_endtag(self, tag: str) -> None:
        if not self.open:
            raise ParseError(f'Unexpected end tag at byte offset {self._byte_offset()}')
        start_tag, start, attributes = self.open.pop()
        if start_tag != tag:
            raise ParseError(f'Unmatched end tag at byte offset {self._byte_offset()}, '
                             f'expected "</{start_tag}>", found "</{tag}>"')
        length = self.length - start
        if length == 0:
            return
        entity: Entity = {"type": _HTML_TAGS[tag], "offset": start, "length": length}
        if tag == "a":
            entity["url"] = attributes["href"]
        if tag == "pre":
            inner = [e for e in self.entities if e["type"] == "code" and e["offset"] == start]
            for code in inner:
                language = code.pop("language", None)
                self.entities.remove(code)
                if language:
                    entity["language"] = language
        if tag == "code" and (cls := attributes.get("class")) and cls.startswith("language-"):
            entity["language"] = cls.removeprefix("language-")
        self.entities.append(entity)

    def handle_data(self, data: str) -> None:
        self._write(data)

    def handle_entityref(self, name: str) -> None:
        if name not in _NAMED_ENTITIES:
            raise ParseError(f'Unsupported HTML entity "&{name};" at byte offset '
                             f"{self._byte_offset()}")
        self._write(_NAMED_ENTITIES[name])

    def handle_charref(self, name: str) -> None:
        try:
            code = int(name[1:], 16) if name[:1] in "xX" else int(name)
            self._write(chr(code))
        except (ValueError, OverflowError):
            raise ParseError(f"Invalid character reference at byte offset "
                             f"{self._byte_offset()}") from None


def _parse_html(text: str) -> tuple[str, list[Entity]]:
    parser = _HtmlToEntities(text)
    parser.feed(text)
    parser.close()
    if parser.open:
        raise ParseError(f'Can\'t find end tag corresponding to start tag "{parser.open[-1][0]}"')
    plain = "".join(parser.out)
    return plain, sorted(parser.entities, key=lambda e: (e["offset"], -e["length"]))


# --- Markdown -----------------------------------------------------------------------------------

_V2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_V2_MARKS = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough",
             "||": "spoiler"}
_V1_MARKS = {"*": "bold", "_": "italic"}


def _find_unescaped(text: str, ch: str, start: int, v2: bool) -> int:
    i = start
    while i < len(text):
        if v2 and text[i] == "\\":
            i += 2
            continue
        if text[i] == ch:
            return i
        i += 1
    return -1


def _parse_markdown(text: str, *, v2: bool) -> tuple[str, list[Entity]]:
    out: list[str] = []
    length = 0
    entities: list[Entity] = []
    open_marks: list[tuple[str, int, int]] = []  # mark, utf16 start, byte offset
    marks = _V2_MARKS if v2 else _V1_MARKS
    i = 0

    def byte_offset(pos: int) -> int:
        return len(text[:pos].encode())

    def write(s: str) -> None:
        nonlocal length
        out.append(s)
        length += utf16_len(s)

    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and (v2 or text[i + 1] in "_*`["):
            write(text[i + 1])
            i += 2
            continue
        if ch == "`":
            fence = text.startswith("```", i)
            opener = "```" if fence else "`"
            end = text.find(opener, i + len(opener))
            while v2 and end > 0 and text[end - 1] == "\\":
                end = text.find(opener, end + 1)
            if end < 0:
                raise ParseError(f"Can't find end of {'Pre' if fence else 'Code'} entity at "
                                 f"byte offset {byte_offset(i)}")
            body = text[i + len(opener):end]
            language = None
            if fence and "\n" in body:
                first, rest = body.split("\n", 1)
                if first and " " not in first:
                    language, body = first, rest
            if v2:
                body = re.sub(r"\\([`\\])", r"\1", body)
            start = length
            write(body)
            entity: Entity = {"type": "pre" if fence else "code", "offset": start,
                              "length": length - start}
            if language:
                entity["language"] = language
            if entity["length"]:
                entities.append(entity)
            i = end + len(opener)
            continue
        if ch == "[":
            close = _find_unescaped(text, "]", i + 1, v2)
            if (close > 0 and text.startswith("(", close + 1)
                    and (paren := _find_unescaped(text, ")", close + 2, v2)) > 0):
                inner_text, inner_entities = _parse_markdown(text[i + 1:close], v2=v2)
                start = length
                write(inner_text)
                for e in inner_entities:
                    entities.append({**e, "offset": e["offset"] + start})
                url = text[close + 2:paren]
                if v2:
                    url = re.sub(r"\\([)\\])", r"\1", url)
                entities.append({"type": "text_link", "offset": start, "length": length - start,
                                 "url": url})
                i = paren + 1
                continue
            if v2:
                raise ParseError("Character '[' is reserved and must be escaped with the "
                                 "preceding '\\'")
        mark = None
        if v2 and text.startswith("__", i):
            mark = "__"
        elif v2 and text.startswith("||", i):
            mark = "||"
        elif ch in marks:
            mark = ch
        if mark is not None:
            if open_marks and open_marks[-1][0] == mark:
                _, start, _ = open_marks.pop()
                if length > start:
                    entities.append({"type": marks[mark], "offset": start,
                                     "length": length - start})
            elif any(m == mark for m, _, _ in open_marks):
                raise ParseError(f"Can't find end of {marks[open_marks[-1][0]].title()} entity "
                                 f"at byte offset {open_marks[-1][2]}")
            else:
                open_marks.append((mark, length, byte_offset(i)))
            i += len(mark)
            continue
        if v2 and ch == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1  # a blockquote line: the marker is not text
            continue
        if v2 and ch in _V2_RESERVED:
            raise ParseError(f"Character '{ch}' is reserved and must be escaped with the "
                             f"preceding '\\'")
        write(ch)
        i += 1
    if open_marks:
        mark, _, offset = open_marks[-1]
        if v2:
            raise ParseError(f"Can't find end of {marks[mark].title()} entity at byte offset "
                             f"{offset}")
        raise ParseError(f"Can't find end of the entity starting at byte offset {offset}")
    return "".join(out), sorted(entities, key=lambda e: (e["offset"], -e["length"]))
