"""Nunjucks text as promptfoo writes its prompts and assertion values, read
as far as reflectloop goes: literal text and plain ``{{var}}`` slots.  A
filter (``{{ x | upper }}``), a tag (``{% if %}``, ``{% for %}``), a comment or
an attribute (``{{ a.b }}``) is refused by name with its line (a
``MetricError``), never rendered differently from promptfoo."""
from __future__ import annotations

import re
from dataclasses import dataclass

from reflectloop.core.metrics.base import MetricError

SLOT = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TAGS = (("{%", "a Nunjucks tag ({% ... %}: a loop, a conditional, a set)"), ("{#", "a Nunjucks comment ({# ... #})"))


@dataclass(frozen=True)
class Piece:
    """One part of a prompt: literal text, or a variable's slot."""

    text: str
    var: str | None = None


def parse(text: str, where: str) -> tuple[Piece, ...]:
    """``text`` as literal pieces and plain ``{{var}}`` slots; anything else
    of Nunjucks is a MetricError naming it and its line."""
    for opener, what in _TAGS:
        at = text.find(opener)
        if at != -1:
            raise MetricError(f"{where}, line {_line(text, at)}: {what} is not supported; "
                            "reflectloop reads plain {{variable}} slots only")
    pieces, pos = [], 0
    for match in SLOT.finditer(text):
        inner = match.group(1)
        line = _line(text, match.start())
        if "|" in inner:
            raise MetricError(f"{where}, line {line}: the Nunjucks filter in {match.group(0)!r} is not supported; "
                            "reflectloop reads plain {{variable}} slots only")
        if not _PLAIN.fullmatch(inner):
            raise MetricError(f"{where}, line {line}: the slot {match.group(0)!r} is not a plain variable name; "
                            "reflectloop reads plain {{variable}} slots only")
        pieces += [Piece(text[pos : match.start()]), Piece(match.group(0), inner)]
        pos = match.end()
    pieces.append(Piece(text[pos:]))
    if any("}}" in p.text or "{{" in p.text for p in pieces if p.var is None):
        raise MetricError(f"{where}: unbalanced {{{{ or }}}} in the prompt (a slot is written {{{{variable}}}})")
    return tuple(p for p in pieces if p.text)


def variables(text: str, where: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.var for p in parse(text, where) if p.var is not None))


def render(text: str, values: dict[str, str], where: str) -> str:
    """``text`` with its slots filled, as promptfoo fills plain variables."""
    return "".join(values.get(p.var, "") if p.var is not None else p.text for p in parse(text, where))


def _line(text: str, at: int) -> int:
    return text.count("\n", 0, at) + 1


