"""The target's messages as templates: ``{field}`` slots filled from each
example, one ``{prompt}`` slot where the text being optimized goes, and an
optional fixed few-shot block between the system and the user message.

Slots use Python's ``str.format`` syntax with plain names only; ``{{`` and
``}}`` are literal braces.  Field values and the prompt are inserted as they
are: braces inside them are never read as slots.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Mapping

from reflectloop.core.types import Message

PROMPT_SLOT = "prompt"


class TemplateError(ValueError):
    """A template that cannot be used; the message names the slot and the part."""


@dataclass(frozen=True)
class MessageTemplate:
    user: str
    system: str | None = None
    few_shot: tuple[tuple[str, str], ...] = ()  # (user, assistant) pairs, shown literally

    def __post_init__(self) -> None:
        count = sum(name == PROMPT_SLOT for part, text in self.parts() for name in _names(text, part))
        if count == 0:
            raise TemplateError("no {prompt} slot: put {prompt} where the text being optimized goes")
        if count > 1:
            raise TemplateError(f"{count} {{prompt}} slots: the text being optimized goes in one place")

    def parts(self) -> tuple[tuple[str, str], ...]:
        """(name, text) of each template, system first."""
        named = (("system", self.system), ("user", self.user))
        return tuple((name, text) for name, text in named if text is not None)

    @property
    def prompt_role(self) -> str:
        return self._prompt_part()

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field slot, in order of first appearance (``prompt`` aside)."""
        names = [n for part, text in self.parts() for n in slots(text, part) if n != PROMPT_SLOT]
        return tuple(dict.fromkeys(names))

    def render(self, prompt: str, values: Mapping[str, str]) -> tuple[Message, ...]:
        """The target's messages for one example.  A missing field is a
        TemplateError: the task file check makes it impossible for its data."""
        missing = [name for name in self.fields if name not in values]
        if missing:
            raise TemplateError(f"no value for the slot {{{missing[0]}}}")
        filled = {**values, PROMPT_SLOT: prompt}
        messages = []
        if self.system is not None:
            messages.append(Message("system", self.system.format_map(filled)))
        for user, assistant in self.few_shot:
            messages += [Message("user", user), Message("assistant", assistant)]
        messages.append(Message("user", self.user.format_map(filled)))
        return tuple(messages)

    def with_prompt(self, prompt: str, *, escaped: bool = False) -> tuple[Message, ...]:
        """The messages with only the prompt filled in and every field slot
        kept as ``{name}``: what an application pastes.  ``escaped``: a
        ``str.format`` template, so ``.format(**fields)`` gives exactly what
        ``render`` sends (literal braces doubled, the prompt's too)."""
        keep = (lambda text: text.replace("{", "{{").replace("}", "}}")) if escaped else (lambda text: text)
        messages = []
        if self.system is not None:
            messages.append(Message("system", _fill_prompt(self.system, prompt, keep)))
        for user, assistant in self.few_shot:
            messages += [Message("user", keep(user)), Message("assistant", keep(assistant))]
        messages.append(Message("user", _fill_prompt(self.user, prompt, keep)))
        return tuple(messages)

    def describe(self) -> str:
        """Where the optimized text sits, for the optimizer's meta-prompts."""
        where = {"system": "the system message", "user": "the user message, at {prompt}"}[self.prompt_role]
        lines = [f"The text being optimized is {where}. Slots in braces are filled from each example."]
        for part, text in self.parts():
            lines.append(f"{part} message template:\n{text}")
        if self.few_shot:
            lines.append(f"{len(self.few_shot)} fixed example exchanges come before the user message.")
        return "\n\n".join(lines)

    def _prompt_part(self) -> str:
        return next(part for part, text in self.parts() if PROMPT_SLOT in slots(text, part))


def _fill_prompt(text: str, prompt: str, keep) -> str:
    out = []
    for literal, name, _, _ in string.Formatter().parse(text):
        out.append(keep(literal))
        if name is not None:
            out.append(keep(prompt) if name == PROMPT_SLOT else "{" + name + "}")
    return "".join(out)


def slots(text: str, part: str) -> tuple[str, ...]:
    """The slot names of one template, each once, in order of appearance."""
    return tuple(dict.fromkeys(_names(text, part)))


def _names(text: str, part: str = "template"):
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(
            f"the {part} template is not valid: {exc} (write {{{{ and }}}} for literal braces)"
        ) from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if not name.isidentifier():
            raise TemplateError(
                f"the {part} template has the slot {shown}: a slot is a plain field name like {{question}}"
            )
        if spec or conversion:
            raise TemplateError(f"the {part} template has the slot {shown}: formats and conversions are not supported")
        yield name
