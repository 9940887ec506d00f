"""A promptfoo prompt (Nunjucks text) as reflectloop's message template, and back.

promptfoo sends the whole prompt, its ``{{var}}`` slots filled from each test.
reflectloop optimizes one text inside a fixed template, so a prompt is split:
the instruction (the lines before the first line with a slot, else those after
the last one) is the prompt being optimized, and the rest, with its slots, is
the template around it.  Joined again they are the prompt promptfoo renders,
character for character, which is what makes the two tools' scores comparable.

Only plain variables are read: a filter (``{{ x | upper }}``), a tag
(``{% if %}``, ``{% for %}``), a comment or an attribute (``{{ a.b }}``) is
refused by name with its line, never rendered differently from promptfoo.
"""
from __future__ import annotations

import json
import re
import string

from reflectloop.core.metrics.base import MetricError
from reflectloop.core.metrics.nunjucks import SLOT, Piece, parse, variables
from reflectloop.core.tasks.base import TaskError
from reflectloop.core.tasks.template import PROMPT_SLOT, MessageTemplate

CHAT_ROLES = ("system", "user", "assistant")

def _format(pieces: tuple[Piece, ...]) -> str:
    """Pieces in ``str.format`` syntax (the template's): braces doubled."""
    return "".join("{" + p.var + "}" if p.var else p.text.replace("{", "{{").replace("}", "}}") for p in pieces)


# ------------------------------------------------------------------ splitting
def split_text(text: str, where: str) -> tuple[str, str]:
    """(instruction, the rest as a ``str.format`` template with ``{prompt}``)."""
    pieces = parse(text, where)
    if not any(p.var for p in pieces):
        return text, "{" + PROMPT_SLOT + "}"
    lines = text.split("\n")
    slotted = [i for i, line in enumerate(lines) if SLOT.search(line)]
    before, after = "\n".join(lines[: slotted[0]]), "\n".join(lines[slotted[-1] + 1 :])
    if before.strip():
        instruction, rest = before.rstrip(), text[len(before.rstrip()) :]
        return instruction, "{" + PROMPT_SLOT + "}" + _format(parse(rest, where))
    if after.strip():
        instruction = after.strip()
        rest = text[: len(text) - len(after)] + after[: len(after) - len(after.lstrip())]
        return instruction, _format(parse(rest, where)) + "{" + PROMPT_SLOT + "}"
    raise TaskError(f"{where}: the prompt is only slots, with no instruction to optimize; "
                    "write the instruction before or after the line(s) with {{variables}}")


def template_of(prompt: str, where: str) -> tuple[str, MessageTemplate]:
    """A promptfoo prompt (text, or chat JSON) as (instruction, template)."""
    try:
        return _template_of(prompt, where)
    except MetricError as exc:  # a slot Nunjucks would read otherwise
        raise TaskError(str(exc)) from None


def _template_of(prompt: str, where: str) -> tuple[str, MessageTemplate]:
    chat = chat_messages(prompt, where)
    if chat is None:
        instruction, user = split_text(prompt, where)
        return instruction, MessageTemplate(user=user)
    return _chat_template(chat, where)


def chat_messages(prompt: str, where: str) -> list[dict] | None:
    """The messages of a chat prompt (a JSON list of {role, content}); None for text."""
    if not prompt.lstrip().startswith("["):
        return None
    try:
        messages = json.loads(prompt)
    except ValueError:
        return None  # promptfoo sends text that is not JSON as one user message
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and m.get("role") in CHAT_ROLES and isinstance(m.get("content"), str) for m in messages
    ):
        raise TaskError(f"{where}: a chat prompt is a JSON list of {{\"role\": system|user|assistant, "
                        "\"content\": text}} objects")
    return messages


def _chat_template(messages: list[dict], where: str) -> tuple[str, MessageTemplate]:
    """system (optional), literal user/assistant pairs, then the user
    message: the system message is the text optimized when there is one."""
    roles = [m["role"] for m in messages]
    system = messages[0]["content"] if roles and roles[0] == "system" else None
    rest = messages[1:] if system is not None else messages
    shape = [m["role"] for m in rest]
    if not shape or len(shape) % 2 == 0 or shape != ["user", "assistant"] * (len(shape) // 2) + ["user"]:
        raise TaskError(f"{where}: a chat prompt must be [system], then user/assistant pairs, then one user "
                        f"message (got {', '.join(roles)})")
    shots = []
    for asked, answered in zip(rest[:-1:2], rest[1::2]):
        if variables(asked["content"], where) or variables(answered["content"], where):
            raise TaskError(f"{where}: the example exchanges before the last user message must be literal "
                            "(no {{variables}})")
        shots.append((asked["content"], answered["content"]))
    last = rest[-1]["content"]
    if system is not None and not variables(system, where):
        user = _format(parse(last, where))
        return system, MessageTemplate(user=user, system="{" + PROMPT_SLOT + "}", few_shot=tuple(shots))
    if system is not None:
        raise TaskError(f"{where}: the system message has {{{{variables}}}}: reflectloop optimizes a system "
                        "message only when it is literal")
    instruction, user = split_text(last, where)
    return instruction, MessageTemplate(user=user, few_shot=tuple(shots))


# -------------------------------------------------------------------- back
def to_nunjucks(template: MessageTemplate, prompt: str) -> str:
    """The prompt promptfoo reads for ``prompt`` in ``template``: text for a
    lone user message, chat JSON otherwise; field slots as ``{{name}}``."""
    messages = [{"role": role, "content": _back(text, prompt)} for role, text in template.parts()]
    for user, assistant in template.few_shot:
        messages[-1:-1] = [{"role": "user", "content": _raw(user)}, {"role": "assistant", "content": _raw(assistant)}]
    if len(messages) == 1:
        return messages[0]["content"]
    return json.dumps(messages, ensure_ascii=False, indent=2)


def _back(text: str, prompt: str) -> str:
    out = []
    for literal, name, _, _ in string.Formatter().parse(text):
        out.append(_raw(literal))
        if name is not None:
            out.append(_raw(prompt) if name == PROMPT_SLOT else "{{" + name + "}}")
    return "".join(out)


def _raw(text: str) -> str:
    """Text Nunjucks would read as markup, kept literal by a raw block."""
    if any(mark in text for mark in ("{{", "{%", "{#")):
        return "{% raw %}" + text + "{% endraw %}"
    return text
