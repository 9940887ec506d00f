"""A session's task, from the session: the copy it stored when it was
created (``core.tasks.stored``), whatever the task file and its data say
now and wherever they are.  ``best``, ``audit``, ``report`` and a resume all
take it from here.

A session written before sessions stored their task reads it again from the
path in its configuration, as then, with a warning that says so.  On resume,
a file the task was read from that has changed since is refused (exit 2)
unless the person chose the stored copy (``--use-stored-task``); one that is
gone is noted, and the stored copy used.  The stored copy is always what is
scored.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from reflectloop.core.tasks import TaskError, load_task
from reflectloop.core.tasks import stored as stored_task
from reflectloop.core.tasks.template import MessageTemplate
from reflectloop.core.types import Task

# The ``open_run`` override (from ``--use-stored-task``) that continues a
# session whose task files changed with the copy the session holds.
USE_STORED = "use_stored_task"


def predates(name: str, task: str) -> str:
    return (f"{name} predates stored tasks: its task is read again from {task!r} as it is now "
            "(a changed or moved file changes what is shown and scored)")


def session_task(store, config, *, data_dir: str | Path | None = None) -> tuple[Task, list[str]]:
    """The session's task and what to tell the person about it.  ``config``
    is the session's ``RunConfig``; ``data_dir`` (given to a reader) is used
    only by a session that predates stored tasks."""
    stored = store.task
    if stored is not None:
        return stored_task.load(stored), []
    return _read_again(config, data_dir), [predates(store.path.name, config.task)]


def resume_task(store, config, *, use_stored: bool) -> tuple[Task, list[str]]:
    """The task a resumed session continues with; its files' changes checked."""
    stored = store.task
    if stored is None:
        return _read_again(config, None), [predates(store.path.name, config.task)]
    found = stored_task.changes(stored)
    changed = [c for c in found if not c.gone]
    if changed and not use_stored:
        raise TaskError(
            f"{store.path.name}: its task changed since the session started: "
            f"{'; '.join(c.describe() for c in changed)}. The session holds the task it was scored with: "
            "continue with that copy with --use-stored-task, or start a new session for the changed task"
        )
    notes = [f"{c.describe()}{'' if c.gone else ' since the session started'}: the session's stored copy is used"
             for c in found]
    return stored_task.load(stored), notes


def session_template(store_task: Mapping | None, task: str) -> MessageTemplate | None:
    """A task file's message template as the session stored it; None for a
    task that is no task file.  A session that predates stored tasks reads
    the task file again (a TaskError when it cannot)."""
    if store_task is not None:
        return stored_task.template(store_task)
    prefix, _, rest = task.partition(":")
    if prefix.strip().casefold() != "file":
        return None
    from reflectloop.core.tasks.taskfile import load_task_file

    return load_task_file(rest.strip()).template


def _read_again(config, data_dir) -> Task:
    return load_task(
        config.task, data_dir=data_dir or config.data_dir, seed=config.seed, dev_size=config.dev_size,
        test_size=config.test_size,
    )
