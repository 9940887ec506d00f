"""Response caches keyed by everything that determines a completion.

The key covers what answers (the model's identity: provider and model, the
server it is reached at, for a local model its file's size and digest and
the context it runs at), the messages and every sampling parameter,
including the sample index and the seed, so n samples are n entries and a
re-run replays exactly what the first run saw; the n choices of one request
are n entries too, keyed by their index.  The same model name at
another endpoint is another model: it never replays this one's answers.  Hits come back with
``cached=True`` and latency 0.  Embeddings are kept beside completions, one
entry per (model, text).
"""
from __future__ import annotations

import array
import dataclasses
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from reflectloop.core.settings import paths
from reflectloop.core.types import Completion, Message, Params, Usage


Vector = tuple[float, ...]


class Cache(Protocol):
    def get(self, key: str) -> Completion | None: ...

    def put(self, key: str, completion: Completion) -> None: ...

    def get_vector(self, key: str) -> Vector | None: ...

    def put_vector(self, key: str, vector: Vector) -> None: ...


def cache_key(identity: str, messages: Sequence[Message], params: Params, choice: int = 0) -> str:
    """``identity``: the provider's ``identity`` (``client.identity_of``).
    ``choice``: which of the ``params.n`` choices of one request the entry
    holds; each is an entry of its own, so a resume replays every one."""
    # ``max_tokens=None`` (no cap) is JSON null: a key of its own, never a number's.
    values = {name: getattr(params, name) for name in _PARAM_FIELDS}
    if params.n > 1:
        # Only a request of several choices names them: a one-choice request
        # keeps the key every cache written before ``n`` existed holds.
        values.update(n=params.n, choice=choice)
    return _digest({"model": identity, "messages": [[m.role, m.content] for m in messages], "params": values})


# ``dataclasses.asdict`` would give the same dict (and so the same keys as
# every cache written so far) at twice the cost; a key is computed per call.
_PARAM_FIELDS = tuple(f.name for f in dataclasses.fields(Params) if f.name != "n")


def embedding_key(identity: str, text: str) -> str:
    # The "embed" field keeps these keys apart from every completion key.
    return _digest({"model": identity, "embed": text})


def _digest(value: dict) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _as_hit(completion: Completion) -> Completion:
    return dataclasses.replace(completion, cached=True, latency=0.0)


class NullCache:
    """Caches nothing: every call goes to the provider."""

    def get(self, key: str) -> Completion | None:
        return None

    def put(self, key: str, completion: Completion) -> None:
        pass

    def get_vector(self, key: str) -> Vector | None:
        return None

    def put_vector(self, key: str, vector: Vector) -> None:
        pass


class MemoryCache:
    """Dicts, for tests and throw-away runs.  ``len`` counts completions."""

    def __init__(self) -> None:
        self._entries: dict[str, Completion] = {}
        self._vectors: dict[str, Vector] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Completion | None:
        hit = self._entries.get(key)
        return _as_hit(hit) if hit is not None else None

    def put(self, key: str, completion: Completion) -> None:
        self._entries[key] = completion

    def get_vector(self, key: str) -> Vector | None:
        return self._vectors.get(key)

    def put_vector(self, key: str, vector: Vector) -> None:
        self._vectors[key] = tuple(vector)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    estimated INTEGER NOT NULL,
    latency REAL NOT NULL,
    created REAL NOT NULL,
    finish_reason TEXT
);
CREATE TABLE IF NOT EXISTS embeddings (
    key TEXT PRIMARY KEY,
    vector BLOB NOT NULL,
    created REAL NOT NULL
);
"""
# Files written before finish reasons were kept lack the column; their rows read as None.
_ADD_FINISH_REASON = "ALTER TABLE responses ADD COLUMN finish_reason TEXT"


class ResponseCache:
    """A cache in an SQLite file.  WAL lets readers (another reflectloop
    replaying a session) run beside the writer; the lock serialises this
    process's callers, which may come from worker threads as well as the
    event loop.  Each operation is a single indexed row, fast enough to run
    on the event loop.  Vectors are stored as float64 bytes (exact, and an
    eighth of their JSON size)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else paths.response_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        # A cache may lose its last entries in a power cut; it must never corrupt.
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._db:
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(responses)")}
            if "finish_reason" not in columns:
                self._db.execute(_ADD_FINISH_REASON)

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute(
                "SELECT model, text, prompt_tokens, completion_tokens, estimated, finish_reason"
                " FROM responses WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        model, text, prompt_tokens, completion_tokens, estimated, finish_reason = row
        usage = Usage(prompt_tokens, completion_tokens, estimated=bool(estimated))
        return Completion(text=text, usage=usage, latency=0.0, cached=True, model=model, finish_reason=finish_reason)

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
            completion.finish_reason,
        )
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, model, text, prompt_tokens, completion_tokens, estimated,"
                " latency, created, finish_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )

    def get_vector(self, key: str) -> Vector | None:
        with self._lock:
            row = self._db.execute("SELECT vector FROM embeddings WHERE key = ?", (key,)).fetchone()
        return tuple(array.array("d", row[0])) if row is not None else None

    def put_vector(self, key: str, vector: Vector) -> None:
        row = (key, array.array("d", vector).tobytes(), time.time())
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)", row)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
