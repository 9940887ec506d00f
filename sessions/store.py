"""``SessionStore``: the one object the rest of reflectloop uses to persist a session.

It speaks the core dataclasses and hides TinyDB: a session directory is a
TinyDB database on :class:`~sessions.storage.AppendStorage` with one table per
record kind.  Everything a person produces (proposals, decisions, steps,
state) is on disk, fsynced, when the method returns.  LLM call records are
the bulk, so they are buffered and written in batches: when ``CALL_BATCH``
are pending, when the oldest pending one is ``CALL_MAX_AGE`` seconds old at
the next ``add_call``, together with any other record (in the same line and
fsync, so a record is never on disk without the calls that produced it), and
at ``flush()``/``close()``.  A crash loses at most the calls made since the
last of those.

Records are only ever added, never updated in place: a record written again
(a resumed step re-proposing the same ids) supersedes the earlier one when
read -- "last wins" -- which keeps every write an O(1) append.  The state
("where the loop stands") is such a record too: each ``set_state`` appends
one, the last is the state, and the storage keeps only the last in memory
and in a compacted log (``latest_only``), so the superseded ones are garbage.
The phase a step is in (``set_phase``) is no line of its own: it rides along
with the next record or batch of calls (or ``flush``/``close``).  Phases
follow one another within milliseconds, an fsync each is what the loop would
wait on, and all a resume reads of one is whether its step had begun, which
any record of that step on disk says with it.

A damaged log still opens: ``warnings`` says, one sentence per problem, what
was skipped and where its bytes are kept, for the CLI and the TUI to show.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import threading
import time
from pathlib import Path
from typing import Any, Callable, TypeVar, cast

from tinydb.table import Document

from reflectloop.core.types import CallRecord, Decision, Evaluation, Prompt, Proposal, StepRecord

from . import codec, reading
from .damage import damage_warning, unread_lines
from .logfile import DamagedLine
from .redact import check_config, env_secrets, scrub
from .storage import LOG_NAME, AppendStorage, ReadOnlyError
from .table import AppendDB

FORMAT = 1
CALL_BATCH = 200
CALL_MAX_AGE = 1.0  # seconds

META, PROMPTS, EVALUATIONS, PROPOSALS = "meta", "prompts", "evaluations", "proposals"
DECISIONS, STEPS, CALLS, STATE = "decisions", "steps", "calls", "state"
LATEST_ONLY = (STATE,)  # tables whose last record is the only current one
_OWN_FILES = {LOG_NAME, "lock"}

T = TypeVar("T")


def _locked(method: Callable[..., T]) -> Callable[..., T]:
    # The TUI may record from a worker thread while the loop records from the event loop.
    def wrapper(self: SessionStore, *args, **kwargs):
        with self._mutex:
            return method(self, *args, **kwargs)

    wrapper.__name__, wrapper.__doc__ = method.__name__, method.__doc__
    return wrapper


class SessionStore:
    """Use :meth:`create` or :meth:`open`; close it (or use ``with``)."""

    def __init__(self, db: AppendDB, path: Path, *, read_only: bool) -> None:
        self._db: AppendDB | None = db  # None once closed
        self._path = path
        self._read_only = read_only
        self._mutex = threading.RLock()
        self._pending_calls: list[dict] = []
        self._oldest_pending = 0.0
        self._pending_phase: dict | None = None  # the state set_phase gave, not yet on disk
        self._meta_doc = self._load_meta()
        self._unread = unread_lines(self._storage, self._path)
        if self._unread[0]:  # said to a reader that watches, refused by a strict one
            reading.opened(path, *self._unread)

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def create(
        cls,
        path: str | Path,
        config: dict,
        *,
        task: dict | None = None,
        parent: str | None = None,
        parent_step: int | None = None,
    ) -> SessionStore:
        """A new session at ``path`` (a directory that must not hold anything else yet).

        ``task``: the task as resolved (``core.tasks.stored.dump``), kept in
        the meta record so that every reader works from the session alone."""
        check_config(config)
        config = _json_copy(config, "config")
        task = None if task is None else _json_copy(task, "task")
        path = Path(path)
        _refuse_occupied(path)
        db = AppendDB(path, latest_only=LATEST_ONLY)  # takes the lock
        try:
            if db.tables():
                raise FileExistsError(f"a session already exists at {path}")
            meta = {
                "format": FORMAT,
                "created": time.time(),
                "config": config,
                "task": task,
                "parent": parent,
                "parent_step": parent_step,
            }
            db.table(META).insert(meta)
            return cls(db, path, read_only=False)
        except BaseException:
            db.close()
            raise

    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False) -> SessionStore:
        """An existing session; a writer takes the lock, a reader never waits for it."""
        path = Path(path)
        if not (path / LOG_NAME).is_file():
            raise FileNotFoundError(f"no session at {path}")
        db = AppendDB(path, read_only=read_only, latest_only=LATEST_ONLY)
        try:
            return cls(db, path, read_only=read_only)
        except BaseException:
            db.close()
            raise

    @_locked
    def close(self) -> None:
        if self._db is None:
            return
        try:
            if not self._read_only:
                self._flush_calls()
        finally:
            self._db.close()
            self._db = None

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SessionStore {self._path}{' read-only' if self._read_only else ''}>"

    # ----------------------------------------------------------- properties
    @property
    def path(self) -> Path:
        return self._path

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def config(self) -> dict:
        return copy.deepcopy(self._meta_doc["config"])

    @property
    def task(self) -> dict | None:
        """The task as the session stored it at creation (``core.tasks.stored``);
        None for a session written before sessions stored their task."""
        task = self._meta_doc.get("task")
        return copy.deepcopy(task) if task is not None else None

    @property
    def damage(self) -> list[DamagedLine]:
        """Damaged lines of the log found by this open (skipped; every other record read)."""
        return self._storage.damage

    @property
    def warnings(self) -> list[str]:
        """What a person should be told about this session's file; empty when it is sound."""
        storage = self._storage
        notes = [self._unread[1]] if self._unread[1] else []
        if storage.compaction_error is not None:
            notes.append(f"the log could not be compacted: {storage.compaction_error.reason}; "
                         "it is complete and is compacted once there is space")
        return notes

    @property
    def unread(self) -> tuple[int, str]:
        """How many lines of the log this session's records could not be read
        from (damaged now, or set aside by an earlier open), and the sentence
        that says which and where their bytes are; (0, "") for a sound log."""
        return self._unread

    @property
    @_locked
    def meta(self) -> dict:
        """created, updated (seconds since the epoch), parent, parent_step, format,
        and recovered_from: the writer whose crash this open recovered from, or None."""
        stale = self._storage.stale_lock
        return {
            "format": self._meta_doc["format"],
            "created": self._meta_doc["created"],
            "updated": self._storage.modified(),
            "parent": self._meta_doc.get("parent"),
            "parent_step": self._meta_doc.get("parent_step"),
            "recovered_from": dataclasses.asdict(stale) if stale else None,
        }

    # --------------------------------------------------------------- writes
    def add_prompt(self, prompt: Prompt) -> None:
        self._insert(PROMPTS, codec.encode(prompt))

    def add_evaluation(self, step: int, ev: Evaluation) -> None:
        self._insert(EVALUATIONS, {"step": step, "evaluation": codec.encode(ev)})

    def add_proposal(self, proposal: Proposal) -> None:
        self._insert(PROPOSALS, codec.encode(proposal))

    def add_decision(self, decision: Decision) -> None:
        """Durable: on disk and fsynced when this returns."""
        self._insert(DECISIONS, codec.encode(decision))

    def add_step(self, step: StepRecord) -> None:
        self._insert(STEPS, codec.encode(step))

    @_locked
    def add_call(self, call: CallRecord) -> None:
        """Buffered; see the module docstring for when it reaches the disk."""
        self._check_writable()
        now = time.monotonic()
        if not self._pending_calls:
            self._oldest_pending = now
        # Scrubbed when written (``_scrubbed_calls``): one look at the environment per batch.
        self._pending_calls.append(codec.encode(call))
        if len(self._pending_calls) >= CALL_BATCH or now - self._oldest_pending >= CALL_MAX_AGE:
            self._flush_calls()

    @_locked
    def flush(self) -> None:
        """Write buffered call records now."""
        self._check_writable()
        self._flush_calls()

    @_locked
    def set_phase(self, state: dict) -> None:
        """``set_state`` for a step's phase, written with the next record,
        batch of calls, ``flush()`` or ``close()``; ``state()`` returns it meanwhile."""
        self._check_writable()
        self._pending_phase = {"state": _json_copy(state, "state")}

    def set_state(self, state: dict) -> None:
        """Record where the loop stands (step, phase, beam ids ...): the whole state,
        superseding the previous one, never merged with it."""
        self._insert(STATE, {"state": _json_copy(state, "state")})

    # ---------------------------------------------------------------- reads
    def prompts(self) -> dict[str, Prompt]:
        return {p.id: p for p in self._decoded(PROMPTS, Prompt)}

    def evaluations(self, step: int | None = None) -> list[tuple[int, Evaluation]]:
        """One per (step, prompt, split), in the order first written, latest content."""
        latest: dict[tuple, tuple[int, Evaluation]] = {}
        for doc in self._docs(EVALUATIONS):
            if step is None or doc["step"] == step:
                ev = codec.decode(Evaluation, doc["evaluation"])
                latest[(doc["step"], ev.prompt_id, ev.split)] = (doc["step"], ev)
        return list(latest.values())

    def proposals(self, step: int | None = None) -> list[Proposal]:
        """In the order first written; a re-written id shows its latest content."""
        latest = {p.id: p for p in self._decoded(PROPOSALS, Proposal)}
        return [p for p in latest.values() if step is None or p.step == step]

    def decisions(self) -> dict[str, Decision]:
        """By proposal id; the latest decision on a proposal wins."""
        return {d.proposal_id: d for d in self._decoded(DECISIONS, Decision)}

    def decision_log(self) -> list[Decision]:
        """Every decision as written, in order (undos and superseded ones included)."""
        return self._decoded(DECISIONS, Decision)

    def steps(self) -> list[StepRecord]:
        latest = {s.step: s for s in self._decoded(STEPS, StepRecord)}
        return [latest[k] for k in sorted(latest)]

    @_locked
    def calls(self) -> list[CallRecord]:
        """Every recorded call, buffered ones included."""
        docs = self._docs(CALLS) + self._scrubbed_calls(env_secrets())
        return [codec.decode(CallRecord, d) for d in docs]

    @_locked
    def state(self) -> dict | None:
        """The last state recorded (a session written before states were appended holds one, updated in place)."""
        docs = [self._pending_phase] if self._pending_phase is not None else self._docs(STATE)
        return copy.deepcopy(docs[-1]["state"]) if docs else None

    # -------------------------------------------------------------- helpers
    @property
    def _storage(self) -> AppendStorage:
        return cast(AppendStorage, self._open_db.storage)  # create and open use one

    @property
    def _open_db(self) -> AppendDB:
        self._check_open()
        assert self._db is not None
        return self._db

    @_locked
    def _insert(self, table: str, doc: dict) -> None:
        self._check_writable()
        # Pending calls (those that led to this record) ride along in the same
        # line: one fsync, and never a record without the calls before it.
        # So does a pending phase, unless a state written now supersedes it.
        secrets = env_secrets()
        phase = self._phase_docs(secrets) if table != STATE else []  # (empty lists are not written)
        self._open_db.insert_together({CALLS: self._scrubbed_calls(secrets), STATE: phase,
                                       table: [scrub(doc, secrets)]})
        self._pending_calls, self._pending_phase = [], None

    def _flush_calls(self) -> None:
        if self._pending_calls or self._pending_phase is not None:
            secrets = env_secrets()
            self._open_db.insert_together({CALLS: self._scrubbed_calls(secrets), STATE: self._phase_docs(secrets)})
            self._pending_calls, self._pending_phase = [], None  # only after the write succeeded

    def _phase_docs(self, secrets: list[str]) -> list[dict]:
        return [] if self._pending_phase is None else [scrub(self._pending_phase, secrets)]

    def _scrubbed_calls(self, secrets: list[str]) -> list[dict]:
        return [scrub(doc, secrets) for doc in self._pending_calls]

    @_locked
    def _docs(self, table: str) -> list[Document]:
        return self._open_db.table(table).all()

    def _decoded(self, table: str, cls: type[T]) -> list[T]:
        return [codec.decode(cls, d) for d in self._docs(table)]

    def _load_meta(self) -> dict:
        docs = self._open_db.table(META).all()
        if not docs or "format" not in docs[0]:
            damage = self._storage.damage
            why = f" ({damage_warning(damage, self._storage.corrupt_file)})" if damage else ""
            raise ValueError(f"{self._path} is not a reflectloop session{why}")
        fmt = docs[0]["format"]
        if type(fmt) is not int or not 1 <= fmt <= FORMAT:
            newer = ", perhaps written by a newer reflectloop" if type(fmt) is int and fmt > FORMAT else ""
            raise ValueError(f"{self._path} is not a session of a known format (format {fmt!r}{newer}; "
                             f"this reflectloop reads format {FORMAT})")
        return copy.deepcopy(dict(docs[0]))

    def _check_open(self) -> None:
        if self._db is None:
            raise ValueError(f"session {self._path.name} is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self._read_only:
            raise ReadOnlyError(f"session {self._path.name} is open read-only")


def _json_copy(value: Any, what: str) -> Any:
    """A detached copy of ``value``, proving on the way that it is JSON-able."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be plain JSON data: {exc}") from None


def _refuse_occupied(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a session directory")
    if path.is_dir():
        others = {p.name for p in path.iterdir()} - _OWN_FILES
        log = path / LOG_NAME
        if others or (log.is_file() and log.stat().st_size > 0):
            raise FileExistsError(f"{path} is not empty; a new session needs a fresh directory")
