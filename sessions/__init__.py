"""Persistence: sessions as append-only TinyDB logs.  Use :class:`SessionStore`."""
from .lock import SessionLockedError
from .logfile import DamagedLine
from .storage import AppendStorage, ReadOnlyError, SessionWriteError
from .store import SessionStore

__all__ = ["AppendStorage", "DamagedLine", "ReadOnlyError", "SessionLockedError", "SessionStore", "SessionWriteError"]
