"""``Syncer``: a session log's fsyncs on a thread of their own.

An fsync takes one to a few milliseconds; made on the event loop, it is time
no other coroutine's request goes out in.  With a syncer, a write returns
once its line is written (in the file: a killed process loses nothing), and
the syncer fsyncs it moments later, every line written by then in one fsync.
Whoever must not go on before a line is durable awaits :meth:`synced`: the
service's models do before each request, so no request leaves before what
its own line of work recorded before it is fsynced (``recorder.Recorder``).
"""
from __future__ import annotations

import asyncio
import threading

from .logfile import LogFile


class Syncer:
    def __init__(self, log: LogFile) -> None:
        self._log = log
        self._cond = threading.Condition()
        self._wanted = 0  # fsync up to this size
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future]] = []
        self._stopping = False
        self.error: OSError | None = None  # the fsync that failed: every later wait and write raises it
        self._thread = threading.Thread(target=self._run, name=f"fsync {log.path.parent.name}", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        """A line was appended: fsync it soon."""
        with self._cond:
            self._wanted = self._log.appended
            self._cond.notify()

    async def synced(self, upto: int | None = None) -> None:
        """Return once the log is fsynced up to ``upto`` bytes appended (all appended so far: None)."""
        # Never past the end: a mark may be another store's.
        target = self._log.appended if upto is None else min(upto, self._log.appended)
        with self._cond:
            if self.error is not None:
                raise self.error
            if self._log.synced >= target:
                return
            loop = asyncio.get_running_loop()
            done = loop.create_future()
            self._waiters.append((target, loop, done))
            self._wanted = max(self._wanted, target)
            self._cond.notify()
        await done

    def stop(self) -> None:
        """Fsync what is left and end the thread (the writer closes the log after)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._wanted <= self._log.synced and not self._stopping:
                    self._cond.wait()
                if self._wanted <= self._log.synced:
                    return  # stopping, and nothing left
            try:
                self._log.sync()
            except OSError as exc:
                with self._cond:
                    self.error = exc
            with self._cond:
                ready = [w for w in self._waiters if self.error is not None or w[0] <= self._log.synced]
                self._waiters = [w for w in self._waiters if w not in ready]
                failed = self.error
            for _, loop, done in ready:
                try:
                    loop.call_soon_threadsafe(_settle, done, failed)
                except RuntimeError:
                    pass  # that loop is closed: nobody waits any more
            if failed is not None:
                return


def _settle(done: asyncio.Future, error: OSError | None) -> None:
    if not done.done():
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
