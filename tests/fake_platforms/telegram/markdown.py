"""A MarkdownV2 entity parser with the Bot API's rules, used by the fake to refuse bad text.

Outside entities every reserved character `_*[]()~`>#+-=|{}.!` must be escaped with a
preceding backslash; `*bold*`, `_italic_`, `__underline__`, `~strike~`, `||spoiler||`,
`` `code` ``, ```` ```pre``` ````, `[text](url)` and `>` quotes at a line start are
entities. Anything else answers what Telegram answers: "Bad Request: can't parse
entities: ...". `parse` returns the plain text a person would see.
"""

from __future__ import annotations

RESERVED = set("_*[]()~`>#+-=|{}.!")
_NAMES = {"*": "Bold", "_": "Italic", "__": "Underline", "~": "Strikethrough", "||": "Spoiler"}


class EntityError(ValueError):
    """Text Telegram would refuse; the message is the Bot API's description."""


def _fail(detail: str) -> EntityError:
    return EntityError(f"Bad Request: can't parse entities: {detail}")


def parse(text: str) -> str:
    """Return the visible text of MarkdownV2 `text`.

    Raises:
        EntityError: with Telegram's description when the text cannot be parsed.
    """
    out: list[str] = []
    stack: list[str] = []
    i, n = 0, len(text)
    line_start = True
    while i < n:
        ch = text[i]
        offset = len(text[:i].encode("utf-16-le")) // 2
        if ch == "\\":
            if i + 1 >= n or not 1 <= ord(text[i + 1]) <= 126:
                raise _fail(
                    f"Character '\\' is reserved and must be escaped at byte offset {offset}"
                )
            out.append(text[i + 1])
            i += 2
            line_start = False
            continue
        if ch == ">" and line_start:
            i += 1
            line_start = False
            continue
        if ch == "`":
            fence = "```" if text.startswith("```", i) else "`"
            end = _find_unescaped(text, fence, i + len(fence))
            if end < 0:
                raise _fail(
                    f"Can't find end of {'Pre' if fence == '```' else 'Code'} entity "
                    f"at byte offset {offset}"
                )
            out.append(text[i + len(fence) : end].replace("\\`", "`").replace("\\\\", "\\"))
            i = end + len(fence)
            line_start = False
            continue
        if ch == "[":
            stack.append("[")
            i += 1
            continue
        if ch == "]":
            if not stack or stack[-1] != "[":
                raise _fail(
                    f"Character ']' is reserved and must be escaped with the preceding "
                    f"'\\' at byte offset {offset}"
                )
            stack.pop()
            if not text.startswith("(", i + 1):
                raise _fail(
                    f"Character ']' is reserved and must be escaped with the preceding "
                    f"'\\' at byte offset {offset}"
                )
            end = _find_unescaped(text, ")", i + 2)
            if end < 0:
                raise _fail(f"Can't find end of a URL at byte offset {offset}")
            i = end + 1
            continue
        marker = None
        for candidate in ("__", "||", "*", "_", "~"):
            if text.startswith(candidate, i):
                marker = candidate
                break
        if marker is not None:
            if stack and stack[-1] == marker:
                stack.pop()
            elif marker in stack:
                raise _fail(f"Can't find end of {_NAMES[stack[-1]]} entity at byte offset {offset}")
            else:
                stack.append(marker)
            i += len(marker)
            line_start = False
            continue
        if ch in RESERVED:
            raise _fail(
                f"Character '{ch}' is reserved and must be escaped with the preceding "
                f"'\\' at byte offset {offset}"
            )
        out.append(ch)
        line_start = ch == "\n"
        i += 1
    if stack:
        name = "TextUrl" if stack[-1] == "[" else _NAMES[stack[-1]]
        raise _fail(
            f"Can't find end of {name} entity at byte offset {len(text.encode('utf-16-le')) // 2}"
        )
    return "".join(out)


def _find_unescaped(text: str, needle: str, start: int) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(needle, i):
            return i
        i += 1
    return -1
