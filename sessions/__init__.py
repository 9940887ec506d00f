"""Persistence: sessions as append-only TinyDB logs.  Use :class:`SessionStore`."""
from .lock import SessionLockedError
from .logfile import CorruptLogError
from .storage import AppendStorage, ReadOnlyError
from .store import SessionStore

__all__ = ["AppendStorage", "CorruptLogError", "ReadOnlyError", "SessionLockedError", "SessionStore"]
