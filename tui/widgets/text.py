"""Displaying untrusted text literally.

Every model output and dataset text reaches the screen through these helpers:
they return Rich ``Text`` objects (never markup), with control characters
replaced by visible stand-ins so that ANSI escapes, carriage returns and the
like cannot restyle or break the screen.  Newlines and tabs are kept.
"""
from __future__ import annotations

import difflib
import re

from rich.text import Text

# C0 controls but \t and \n, DEL, C1 controls, and the Unicode characters that
# move or reorder text (line/paragraph separators, bidi embeddings/overrides/isolates).
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _stand_in(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode "control pictures": ␛ for ESC, ␍ for CR
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"


def clean(text: str | None) -> str:
    """``text`` with every unsafe character replaced by a visible stand-in."""
    if not text:
        return ""
    return _UNSAFE.sub(lambda m: _stand_in(m.group()), text)


def literal(text: str | None, style: str = "") -> Text:
    """A Text that shows ``text`` exactly as written: no markup, no escapes."""
    return Text(clean(text), style=style)


def one_line(text: str | None, width: int = 60) -> str:
    """A cleaned single-line preview, cut to ``width`` characters."""
    flat = clean(text).replace("\r", " ").replace("\t", " ")
    flat = " ⏎ ".join(part.strip() for part in flat.split("\n") if part.strip())
    return flat if len(flat) <= width else flat[: max(width - 1, 1)] + "…"


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"(\s+)", text) if t]


def word_diff(old: str | None, new: str) -> Text:
    """``new`` against ``old`` word by word: removed words struck through in
    red, added words in green, the rest plain.  Without ``old``: ``new`` plain."""
    new_clean = clean(new)
    if old is None:
        return Text(new_clean)
    a, b = _tokens(clean(old)), _tokens(new_clean)
    out = Text()
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append("".join(a[i1:i2]))
            continue
        if op in ("delete", "replace"):
            removed = "".join(a[i1:i2])
            out.append(removed, style="strike red")
            if op == "replace" and not removed[-1:].isspace():
                out.append(" ")
        if op in ("insert", "replace"):
            out.append("".join(b[j1:j2]), style="bold green")
    return out


def diff_stats(old: str | None, new: str) -> str:
    """'+3 −1 words' for a card title, or '' without a parent."""
    if old is None:
        return ""
    a, b = clean(old).split(), clean(new).split()
    added = removed = 0
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            removed += i2 - i1
        if op in ("insert", "replace"):
            added += j2 - j1
    return f"+{added} −{removed} words"
