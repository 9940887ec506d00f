"""Response caches keyed by everything that determines a completion.

The key covers the model spec, the messages and every sampling parameter,
including the sample index and the seed, so n samples are n entries and a
re-run replays exactly what the first run saw.  Hits come back with
``cached=True`` and latency 0.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from core import paths
from core.types import Completion, Message, Params, Usage


class Cache(Protocol):
    def get(self, key: str) -> Completion | None: ...

    def put(self, key: str, completion: Completion) -> None: ...


def cache_key(spec: str, messages: Sequence[Message], params: Params) -> str:
    canonical = json.dumps(
        {
            "model": spec,
            "messages": [[m.role, m.content] for m in messages],
            "params": dataclasses.asdict(params),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _as_hit(completion: Completion) -> Completion:
    return dataclasses.replace(completion, cached=True, latency=0.0)


class NullCache:
    """Caches nothing: every call goes to the provider."""

    def get(self, key: str) -> Completion | None:
        return None

    def put(self, key: str, completion: Completion) -> None:
        pass


class MemoryCache:
    """A dict, for tests and throw-away runs."""

    def __init__(self) -> None:
        self._entries: dict[str, Completion] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Completion | None:
        hit = self._entries.get(key)
        return _as_hit(hit) if hit is not None else None

    def put(self, key: str, completion: Completion) -> None:
        self._entries[key] = completion


_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    estimated INTEGER NOT NULL,
    latency REAL NOT NULL,
    created REAL NOT NULL
)
"""


class ResponseCache:
    """A cache in an SQLite file.  WAL lets readers (another reflectloop
    replaying a session) run beside the writer; the lock serialises this
    process's callers, which may come from worker threads as well as the
    event loop.  Each operation is a single indexed row, fast enough to run
    on the event loop."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else paths.response_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        # A cache may lose its last entries in a power cut; it must never corrupt.
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._db:
            self._db.execute(_SCHEMA)

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute(
                "SELECT model, text, prompt_tokens, completion_tokens, estimated"
                " FROM responses WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        model, text, prompt_tokens, completion_tokens, estimated = row
        usage = Usage(prompt_tokens, completion_tokens, estimated=bool(estimated))
        return Completion(text=text, usage=usage, latency=0.0, cached=True, model=model)

    def put(self, key: str, completion: Completion) -> None:
        usage = completion.usage
        row = (
            key,
            completion.model,
            completion.text,
            usage.prompt_tokens,
            usage.completion_tokens,
            int(usage.estimated),
            completion.latency,
            time.time(),
        )
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
