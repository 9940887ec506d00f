"""Worker processes for a Python metric: concurrent, abandonable, each call timed.

A user's metric function runs in a process of its own, never on the event
loop: a slow one does not hold up the model calls, several run at once (up to
the pool's ``size``: the run's concurrency), and one that outlives its
``timeout`` is killed -- its example errored with that cause -- while the
others go on.  Ctrl+C cancels the waits at once; :meth:`MetricPool.close`
(the run's close) kills whatever is still running.

Processes come from a ``forkserver`` (``spawn`` where there is none): a worker
never inherits the parent's threads, sockets or event loop.  Each worker
loads the function once, serves one call at a time, and ignores SIGINT, so a
Ctrl+C reaches the run, which then closes the pool.  Workers start on first
use and are reused; a killed or crashed one is replaced on the next call.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reflectloop.core.metrics.python_loader import load_function


STARTUP_CEILING = 120.0  # seconds a new worker may take to start and load the function


class MetricTimeout(Exception):
    """The call outlived its timeout; its worker was killed."""


class MetricCrashed(Exception):
    """The worker ended without answering (killed, out of memory, ``os._exit``)."""


@dataclass(eq=False)  # a worker is itself, not its fields: kept in a set
class _Worker:
    process: Any
    conn: Any

    def kill(self) -> None:
        try:
            self.conn.close()
        finally:
            if self.process.is_alive():
                self.process.kill()
            self.process.join(timeout=5)


def _context():
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" not in methods:
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["reflectloop.core.metrics.python"])  # imported once, by the server, not per worker
    return ctx


class MetricPool:
    """Up to ``size`` workers calling ``reference`` (``module:function``,
    loaded from ``base_dir`` as the task file's metric is)."""

    def __init__(self, reference: str, base_dir: str, size: int) -> None:
        self.reference = reference
        self.base_dir = base_dir
        self.size = max(1, size)
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def call(self, example: Any, value: Any, timeout: float) -> tuple[str, Any]:
        """``("ok", returned)`` or ``("raised", "TypeName: message")``; raises
        :class:`MetricTimeout` or :class:`MetricCrashed`."""
        async with self._limit():
            worker = await self._take()
            try:
                worker.conn.send((example, value))
                reply = await _receive(worker.conn, timeout)
            except MetricTimeout:
                self._drop(worker)
                raise
            except (EOFError, OSError) as exc:
                self._drop(worker)  # joined: its exit code is known
                code = worker.process.exitcode
                raise MetricCrashed(f"its process ended without an answer (exit code {code})") from exc
            except BaseException:  # cancelled (Ctrl+C, the run closing): the call is abandoned
                self._drop(worker)
                raise
            self._busy.discard(worker)
            self._idle.append(worker)
            return reply

    def close(self) -> None:
        """Kill every worker, idle or busy; a later call starts new ones."""
        for worker in [*self._idle, *self._busy]:
            worker.kill()
        self._idle, self._busy = [], set()

    # --------------------------------------------------------------- helpers
    def _limit(self) -> asyncio.Semaphore:
        # A semaphore belongs to the loop it first waits on; a task outlives loops in tests.
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            self._loop, self._slots = loop, asyncio.Semaphore(self.size)
        return self._slots

    async def _take(self) -> _Worker:
        while self._idle:
            worker = self._idle.pop()
            if worker.process.is_alive():
                self._busy.add(worker)
                return worker
            worker.kill()
        worker = self._start()
        self._busy.add(worker)
        try:
            # A call's timeout starts once its worker is up: a slow start is not the metric's time.
            _, failure = await _receive(worker.conn, STARTUP_CEILING)
        except MetricTimeout:
            self._drop(worker)
            raise MetricCrashed(f"its process did not start within {STARTUP_CEILING:g} s") from None
        except (EOFError, OSError):
            self._drop(worker)  # joined: its exit code is known
            raise MetricCrashed(f"its process ended while starting (exit code {worker.process.exitcode})") from None
        except BaseException:
            self._drop(worker)
            raise
        if failure is not None:
            self._drop(worker)
            raise MetricCrashed(f"it could not be loaded in its process: {failure}")
        return worker

    def _start(self) -> _Worker:
        ctx = _context()
        parent, child = ctx.Pipe()
        process = ctx.Process(target=serve, args=(child, self.reference, self.base_dir), daemon=True,
                              name=f"metric {self.reference}")
        process.start()
        child.close()
        return _Worker(process, parent)

    def _drop(self, worker: _Worker) -> None:
        self._busy.discard(worker)
        worker.kill()


async def _receive(conn, timeout: float) -> tuple[str, Any]:
    """The worker's reply, waited for on the event loop (no thread is left
    blocked in ``recv`` when the wait is cancelled)."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    fd = conn.fileno()
    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await asyncio.wait_for(ready, timeout)
    except asyncio.TimeoutError:
        raise MetricTimeout() from None
    finally:
        loop.remove_reader(fd)
    return conn.recv()


def serve(conn, reference: str, base_dir: str) -> None:
    """A worker's life: load the function, then answer calls until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run decides when a worker stops
    try:
        function = load_function(reference, Path(base_dir or "."))
    except Exception as exc:  # loaded once in the parent already: only a changed file gets here
        conn.send(("ready", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            example, value = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply = ("ok", function(example, value))
        except (Exception, SystemExit) as exc:  # the user's code: any failure errors this example only
            reply = ("raised", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(reply)
        except Exception as exc:  # a returned object that cannot be pickled back
            conn.send(("raised", f"it returned a {type(reply[1]).__name__}, which cannot be passed back: {exc}"))
