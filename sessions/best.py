"""The best prompt of a session, out: its text with the task's message
template filled, ready to paste into an application, as text, JSON or
Python.  ``reflectloop best`` and the TUI's ``/save`` both write it.

The winner is the best prompt of the last recorded step (the beam keeps the
best dev score; the step's record names it).  The template comes from the
session's task as the session stored it (what was scored, whatever the task
file says now): a task file's own messages, else the request of the
session's protocol (the reflectloop answer line or the study's).
"""
from __future__ import annotations

import json
import keyword
from dataclasses import dataclass, field
from pathlib import Path

from reflectloop.core.evaluation.prompting import render_prompt
from reflectloop.core.tasks.base import TaskError
from reflectloop.core.tasks.taskfile import QA_TEMPLATE, STUDY_TEMPLATE
from reflectloop.core.tasks.template import MessageTemplate
from reflectloop.core.types import Message
from reflectloop.sessions.stored_task import predates, session_template
from reflectloop.sessions.store import SessionStore

FORMATS = ("text", "json", "python")


@dataclass(frozen=True)
class Best:
    session: str
    task: str
    prompt_id: str
    step: int
    prompt: str  # the prompt's full text (ABO: with its demonstration)
    dev: float
    test: float | None
    template: MessageTemplate
    notes: tuple[str, ...] = field(default=(), compare=False)  # e.g. a session that predates stored tasks

    @property
    def fields(self) -> tuple[str, ...]:
        return self.template.fields

    def messages(self, *, escaped: bool = False) -> tuple[Message, ...]:
        return self.template.with_prompt(self.prompt, escaped=escaped)


def best_prompt(path: str | Path) -> Best:
    """The session's best prompt; a session with no finished step, or (one
    that predates stored tasks) whose task file cannot be read any more, is a
    ValueError saying so."""
    with SessionStore.open(path, read_only=True) as store:
        config, steps, prompts, task = store.config, store.steps(), store.prompts(), store.task
    if not steps:
        raise ValueError(f"{Path(path).name}: no finished step yet, so no best prompt")
    record = steps[-1]
    assert record.dev_best is not None  # the loop never selects a best prompt without a dev score
    protocol = config.get("protocol", "reflectloop")
    template, notes = _template(task, config.get("task", ""), protocol, Path(path).name)
    return Best(
        session=str(path),
        task=config.get("task", ""),
        prompt_id=record.best_id,
        step=record.step,
        prompt=render_prompt(prompts[record.best_id], protocol),
        dev=record.dev_best,
        test=record.test,
        template=template,
        notes=notes,
    )


def _template(stored: dict | None, task: str, protocol: str, name: str) -> tuple[MessageTemplate, tuple[str, ...]]:
    """The session's message template, and a warning when it was read again
    from a task file (a session that predates stored tasks)."""
    try:
        template = session_template(stored, task)
    except TaskError as exc:
        raise ValueError(f"the session's task file cannot be read, so its messages are unknown: {exc}") from None
    if template is None:
        return (STUDY_TEMPLATE if protocol == "study" else QA_TEMPLATE), ()
    return template, (() if stored is not None else (predates(name, task),))


def write_best(best: Best, fmt: str = "text") -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    return {"text": _text, "json": _json, "python": _python}[fmt](best)


def save_best(path: str | Path, best: Best, fmt: str | None = None) -> str:
    """Write ``best`` to ``path``; the format follows the suffix (.json,
    .py, else text) unless given.  Returns the format written."""
    path = Path(path)
    fmt = fmt or {".json": "json", ".py": "python"}.get(path.suffix.casefold(), "text")
    path.write_text(write_best(best, fmt), encoding="utf-8")
    return fmt


def _scores(best: Best) -> str:
    test = "-" if best.test is None else f"{best.test:.3f}"
    return f"dev {best.dev:.3f}, test {test}"


def _text(best: Best) -> str:
    """Each message under its role; slots stay as {name} for the application."""
    blocks = [f"# best prompt of {Path(best.session).name} (step {best.step}, {_scores(best)})"]
    blocks += [f"--- {m.role} ---\n{m.content}" for m in best.messages()]
    return "\n\n".join(blocks) + "\n"


def _json(best: Best) -> str:
    return json.dumps({
        "session": best.session,
        "task": best.task,
        "prompt_id": best.prompt_id,
        "step": best.step,
        "dev": best.dev,
        "test": best.test,
        "prompt": best.prompt,
        "fields": list(best.fields),
        # str.format templates: content.format(**fields) is what the target was sent.
        "messages": [{"role": m.role, "content": m.content} for m in best.messages(escaped=True)],
    }, ensure_ascii=False, indent=2) + "\n"


def _python(best: Best) -> str:
    messages = ",\n".join(f"    {{'role': {m.role!r}, 'content': {m.content!r}}}" for m in best.messages(escaped=True))
    # Named arguments read best; a field named like a keyword can only be passed as **fields.
    named = not any(keyword.iskeyword(name) for name in best.fields)
    signature = ", ".join(best.fields) if named else "**fields"
    collect = f"    fields = {{{', '.join(f'{name!r}: {name}' for name in best.fields)}}}\n" if named else ""
    return (
        f'"""The best prompt of {Path(best.session).name} (step {best.step}, {_scores(best)}), from reflectloop."""\n\n'
        f"PROMPT = {best.prompt!r}\n\n"
        f"MESSAGES = [\n{messages},\n]\n\n\n"
        f"def messages({signature}):\n"
        f'    """The chat messages for one input, as the prompt was scored."""\n'
        f"{collect}"
        f"    return [{{'role': m['role'], 'content': m['content'].format(**fields)}} for m in MESSAGES]\n"
    )
