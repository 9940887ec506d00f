"""What a reader could not read: told to the person, refused under ``--strict``.

A session with a damaged line still opens (``sessions.logfile``): every
other record is read and the store's ``warnings`` say what was skipped.
``run`` prints them; the commands that only read a session (``best``,
``export``, ``audit`` ...) run inside :func:`watching`, which every open of a
session with unread lines reports to (``SessionStore`` calls :func:`opened`),
so a record is never dropped without a word.  A strict watch refuses such a
session at the moment it is opened, before anything is written from it.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator


class DamagedSessionError(ValueError):
    """A session with lines that cannot be read, refused by a strict reader."""


@dataclass(frozen=True)
class Unread:
    """The lines of one session's log that a reader could not read."""

    path: Path
    lines: int  # how many
    warning: str  # the store's sentence: count, positions, where the bytes are kept


@dataclass
class Watch:
    strict: bool = False
    on_found: Callable[[Unread], None] | None = None
    found: list[Unread] = field(default_factory=list)


_watches: list[Watch] = []
_mutex = threading.Lock()


@contextmanager
def watching(*, strict: bool = False, on_found: Callable[[Unread], None] | None = None) -> Iterator[Watch]:
    """Collect (and hand ``on_found``) every session opened with unread lines
    until the block ends; ``strict`` makes such an open raise
    :class:`DamagedSessionError` instead."""
    watch = Watch(strict, on_found)
    with _mutex:
        _watches.append(watch)
    try:
        yield watch
    finally:
        with _mutex:
            _watches.remove(watch)


def opened(path: Path, lines: int, warning: str) -> None:
    """Called on every open of a session whose log has unread lines."""
    unread = Unread(Path(path), lines, warning)
    with _mutex:
        watches = list(_watches)
    for watch in watches:
        if unread in watch.found:  # a command may open the same session twice: said once
            continue
        watch.found.append(unread)
        if watch.on_found is not None:
            watch.on_found(unread)
    if any(w.strict for w in watches):
        raise DamagedSessionError(f"{path}: {warning}; --strict refuses a session it cannot read whole")
