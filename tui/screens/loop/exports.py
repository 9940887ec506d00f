"""``/export``: the session's annotation export, written beside it in a
worker thread (from the open run's store, or the session on disk)."""
from __future__ import annotations

import asyncio
from pathlib import Path

from reflectloop.sessions.export import SUFFIX, export, export_name
from reflectloop.sessions.service import is_session
from reflectloop.sessions.store import SessionStore

__all__ = ["SUFFIX", "NothingYet", "shell", "write"]


class NothingYet(LookupError):
    """No session on disk to export."""


def shell(session: Path, fmt: str) -> str:
    """The same export from a shell, for when this one fails."""
    return f"reflectloop export {session} --format {fmt}"


async def write(session: Path, fmt: str, store: SessionStore | None) -> tuple[int, Path]:
    """Export ``session`` (through ``store`` when it is open) beside it;
    returns the number of reviewed proposals written and where."""
    if store is None and not is_session(session):
        raise NothingYet("nothing to export yet: the session starts with step 0")
    out = session.with_name(export_name(session, fmt))

    def run() -> int:
        if store is not None:
            return export(store, fmt, out)
        with SessionStore.open(session, read_only=True) as reader:
            return export(reader, fmt, out)

    return await asyncio.to_thread(run), out
