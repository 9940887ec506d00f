"""A fake LLM endpoint for tests and benchmarks: OpenAI-compatible
``/v1/chat/completions`` and ``/v1/models``, plus an Anthropic-shaped
``/v1/messages``, on 127.0.0.1 at a free port.

What it models:

* **latency** — every answer takes ``latency`` seconds (429s answer at once,
  as rate limiters do); ``slow`` maps a substring of the request to a
  latency of its own;
* **a concurrency cap** — at most ``concurrency`` requests are served at a
  time; the others wait for a slot, as at an endpoint's limit;
* **held answers**, for tests that must not depend on the machine's speed:
  ``hold(text)`` keeps the answers to requests containing ``text`` (or
  matching a test's function) until the test releases them; ``gather(n)`` keeps every answer until ``n`` requests
  are in the server at once;
* **n choices** — an OpenAI request with ``n`` gets n choices (Anthropic's API has none);
* **faults**, injected at ``fault_rate``: ``429`` (with Retry-After), ``500``,
  ``timeout`` (hangs ``hang`` seconds, longer than the client waits, then
  drops the connection), ``truncated`` (the connection closes mid-body),
  ``invalid`` (a complete 200 whose body is not JSON), ``empty`` (no choices;
  for /v1/messages an empty ``content``).  Whether attempt *n* of a request
  fails is a seeded hash of (seed, request body, n), so the same requests
  meet the same faults whatever order they arrive in.  ``always_fail`` maps a
  substring of the request to a fault kind it meets on every attempt.

``log`` holds every request served (``Served``: which API, evaluation or
optimizer prompt, attempt, fault, and when it arrived, got a slot and was
answered); ``stats()`` sums it up with the peaks ``max_active`` (served at
once, never above the cap) and ``max_open`` (waiting ones included).

What it answers is in ``tests.support.fake_answers``.

In-process (tests)::

    with FakeServer(latency=0.01, fault_rate=0.2, seed=3) as server:
        make_llm("openai:fake", role="target", base_url=server.openai_url)
        server.stats()["faults"]

As a subprocess (benchmarks), ``spawn_fake_server(...)`` runs
``python -m tests.support.fake_server``, which prints its URL on its first line and
exits when its parent dies or after ``--idle-timeout`` seconds without requests.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path

from tests.support.fake_answers import answer_text, is_evaluation, solve, unit
from tests.support.fake_http import Handler, error_body, last_user_text, success_body
from tests.support.processes import read_line

__all__ = ["FAULT_KINDS", "FakeServer", "RemoteFakeServer", "Served", "solve", "spawn_fake_server"]

FAULT_KINDS = ("429", "500", "timeout", "truncated", "invalid", "empty")


# ------------------------------------------------------------------ records
@dataclass(frozen=True)
class Served:
    """One request as the server saw it."""

    api: str  # "openai" | "anthropic"
    kind: str  # "evaluate" (a target prompt, answered as JSON) | "optimize" (answered with tags)
    key: str  # hash of the request body: the same request retried has the same key
    attempt: int  # 1-based: how many times this body has arrived
    fault: str | None
    arrived: float  # time.monotonic() when it arrived (before waiting for a slot)
    started: float  # when it got a slot
    replied: float | None  # when the reply (or the fault) went out; None while in progress
    prompt: str = field(default="", repr=False)  # the last user message (not in ``stats()``)


# ------------------------------------------------------------------- server
class FakeServer(ThreadingHTTPServer):
    """The endpoint.  Use it as a context manager (or ``start()``/``close()``);
    ``url`` is the root, ``openai_url`` the OpenAI base URL (``…/v1``)."""

    daemon_threads = True
    request_queue_size = 256  # a burst of new connections must not be refused

    def __init__(
        self,
        *,
        latency: float = 0.0,
        concurrency: int | None = None,
        fault_rate: float = 0.0,
        faults: Sequence[str] = FAULT_KINDS,
        seed: int = 0,
        retry_after: float = 0.05,
        hang: float = 2.0,
        always_fail: Mapping[str, str] | None = None,
        slow: Mapping[str, float] | None = None,
        port: int = 0,
    ) -> None:
        unknown = set(faults) - set(FAULT_KINDS) | set((always_fail or {}).values()) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind(s) {sorted(unknown)}: known are {', '.join(FAULT_KINDS)}")
        super().__init__(("127.0.0.1", port), Handler)
        self.latency = latency
        self.concurrency = concurrency
        self.fault_rate = fault_rate
        self.faults = tuple(faults)
        self.seed = seed
        self.retry_after = retry_after
        self.hang = hang
        self.always_fail = dict(always_fail or {})
        self.slow = dict(slow or {})  # substring of the request -> its latency instead
        self.log: list[Served] = []
        self.max_active = 0  # most requests served at once (never above the cap)
        self.max_open = 0  # most requests in the server at once, waiting ones included
        self.last_activity = time.monotonic()
        self._active = 0
        self._open = 0
        self._attempts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._cap = threading.Semaphore(concurrency) if concurrency else None
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        # Holding answers (see hold() and gather()): a test decides when calls
        # end, so what it shows does not depend on how fast this machine is.
        self.hold_timeout = 60.0  # a ceiling for a test that never releases, not a timing check
        self.held: list[tuple[Callable[[str], bool], threading.Event]] = []
        self._gather: tuple[int, str | None] = (0, None)
        self._gathered = threading.Event()
        self._gathered.set()

    # ---------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> FakeServer:
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True, name="fake-llm")
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes hanging and sleeping handlers
        self._gathered.set()  # and held ones
        for _, release in list(self.held):
            release.set()
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
        self.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def handle_error(self, request, client_address) -> None:
        # Clients that timed out hang up before their reply: that is the point.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    # ----------------------------------------------------------- holding
    def hold(self, match: str | Callable[[str], bool]) -> threading.Event:
        """Hold every answer to a request whose last user message contains
        ``match`` (or for which ``match(text)`` is true) until the returned
        event is set; held requests are in the log with ``replied`` None."""
        test = match if callable(match) else (lambda text: match in text)
        release = threading.Event()
        self.held.append((test, release))
        return release

    def gather(self, n: int, *, kind: str | None = None) -> None:
        """From now on hold the answers to requests of ``kind`` ("evaluate",
        "optimize"; None: all) until ``n`` requests are in the server at once,
        waiting ones included; then release them for good.  So a test shows that
        ``n`` were in flight together however slow the machine; a client that
        never sends ``n`` is released after ``hold_timeout``, and the peaks say so."""
        with self._lock:
            self._gather = (n, kind)
            if self._open >= n:
                self._gathered.set()
            else:
                self._gathered.clear()

    def _wait_for_release(self, prompt: str, kind: str) -> None:
        if self._gather[1] in (None, kind) and not self._gathered.wait(self.hold_timeout):
            self._gathered.set()  # never reached: let every held request go
        for test, release in list(self.held):
            if test(prompt):
                release.wait(self.hold_timeout)

    # ------------------------------------------------------------- stats
    @property
    def requests(self) -> int:
        return len(self.log)

    def reset_peaks(self) -> None:
        """Start measuring ``max_active``/``max_open`` afresh (e.g. per step)."""
        with self._lock:
            self.max_active, self.max_open = self._active, self._open

    def injected(self) -> list[Served]:
        """Every request that met a fault, in order."""
        with self._lock:
            return [s for s in self.log if s.fault]

    def stats(self, since: int = 0) -> dict:
        """Counts over every request; ``log`` holds the requests from index
        ``since`` on (a benchmark asks for only the new ones, so that its own
        calls cost the server next to nothing)."""
        with self._lock:
            log = list(self.log)
        return {
            "requests": len(log),
            "by_api": dict(Counter(s.api for s in log)),
            "ok": sum(s.fault is None for s in log),
            "faults": dict(Counter(s.fault for s in log if s.fault)),
            "max_active": self.max_active,
            "max_open": self.max_open,
            "concurrency": self.concurrency,
            "latency": self.latency,
            "log": [{k: v for k, v in asdict(s).items() if k != "prompt"} for s in log[since:]],
        }

    # ----------------------------------------------------------- serving
    def _decide(self, api: str, body: dict, prompt: str) -> tuple[str, int, str | None]:
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        with self._lock:
            self._attempts[key] += 1
            attempt = self._attempts[key]
        for needle, kind in self.always_fail.items():
            if needle in prompt:
                return key, attempt, kind
        if self.fault_rate and unit(self.seed, key, attempt) < self.fault_rate:
            return key, attempt, self.faults[int(unit(self.seed, key, attempt, "kind") * len(self.faults))]
        return key, attempt, None

    def serve(self, handler: Handler, api: str, body: dict) -> None:
        arrived = time.monotonic()
        with self._lock:
            self._open += 1
            self.max_open = max(self.max_open, self._open)
            if self._open >= self._gather[0]:
                self._gathered.set()
        if self._cap is not None:
            self._cap.acquire()
        started = time.monotonic()
        try:
            with self._lock:
                self._active += 1
                self.max_active = max(self.max_active, self._active)
            prompt = last_user_text(body)
            key, attempt, fault = self._decide(api, body, prompt)
            kind = "evaluate" if is_evaluation(prompt) else "optimize"
            # Logged before the reply, so a request still hanging is in the log.
            served = Served(api, kind, key, attempt, fault, arrived, started, None, prompt)
            with self._lock:
                index = len(self.log)
                self.log.append(served)
            try:
                self._wait_for_release(prompt, kind)
                self._reply(handler, api, body, prompt, fault)
            finally:
                with self._lock:
                    self.log[index] = replace(served, replied=time.monotonic())
        finally:
            with self._lock:
                self._active -= 1
                self._open -= 1
                self.last_activity = time.monotonic()
            if self._cap is not None:
                self._cap.release()

    def _reply(self, handler: Handler, api: str, body: dict, prompt: str, fault: str | None) -> None:
        if fault == "429":
            error = error_body(api, "rate_limit_error", "Rate limit reached (fake server)")
            return handler.send_json(429, error, {"retry-after": f"{self.retry_after:g}"})
        if fault == "timeout":
            self._closing.wait(self.hang)
            handler.close_connection = True  # no reply: the client gave up long ago
            return None
        # The answer is made within its latency, as a real endpoint's own work is
        # part of the time it takes: the slot is held ``latency``, not more.
        due = time.monotonic() + next((t for needle, t in self.slow.items() if needle in prompt), self.latency)
        send = self._answer(handler, api, body, prompt, fault)
        self._closing.wait(max(0.0, due - time.monotonic()))
        return send()

    def _answer(self, handler: Handler, api: str, body: dict, prompt: str, fault: str | None) -> Callable[[], None]:
        """The reply to send, made ready."""
        if fault == "500":
            return partial(handler.send_json, 500, error_body(api, "server_error", "Internal error (fake server)"))
        text = answer_text(prompt, body.get("seed"))
        # An OpenAI request for n choices gets n, each answered as if at a seed of its own.
        n = body.get("n") if api == "openai" and isinstance(body.get("n"), int) else 1
        more = tuple(answer_text(prompt, f"{body.get('seed')}/choice{k}") for k in range(1, n))
        payload = success_body(api, body, "" if fault == "empty" else text, empty=fault == "empty", more=more)
        if fault == "truncated":
            return partial(handler.send_truncated, payload)
        data = json.dumps(payload).encode()
        return partial(handler.send_raw, 200, data[: len(data) // 2] if fault == "invalid" else data)


# --------------------------------------------------------------- subprocess
class RemoteFakeServer:
    """A fake server in a child process (see ``spawn_fake_server``)."""

    def __init__(self, process: subprocess.Popen, url: str) -> None:
        self.process = process
        self.url = url
        self.openai_url = f"{url}/v1"

    def stats(self, since: int = 0) -> dict:
        with urllib.request.urlopen(f"{self.url}/stats?since={since}", timeout=10) as response:
            return json.loads(response.read())


@contextlib.contextmanager
def spawn_fake_server(*, idle_timeout: float = 300.0, **options: object) -> Iterator[RemoteFakeServer]:
    """``python -m tests.support.fake_server`` with ``options`` (FakeServer's keyword
    arguments), stopped at the end of the block; it also exits by itself if
    this process dies or after ``idle_timeout`` seconds without requests."""
    command = [sys.executable, "-m", "tests.support.fake_server", "--idle-timeout", str(idle_timeout)]
    for name, value in options.items():
        if name in ("always_fail", "slow"):
            for needle, what in dict(value).items():  # type: ignore[arg-type]
                command += [f"--{name.replace('_', '-')}", f"{what}={needle}"]
        elif name == "faults":
            command += ["--faults", ",".join(value)]  # type: ignore[arg-type]
        elif value is not None:
            command += [f"--{name.replace('_', '-')}", str(value)]
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE)
    try:
        try:
            line = read_line(process)
        except RuntimeError as exc:
            raise RuntimeError(f"the fake server exited before it listened: {exc}") from None
        yield RemoteFakeServer(process, json.loads(line)["url"])
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _watch(server: FakeServer, parent: int, idle_timeout: float) -> None:
    """Shut the server down when the parent is gone or it has been idle too long."""
    while True:
        time.sleep(0.2)
        idle = time.monotonic() - server.last_activity
        if os.getppid() != parent or (idle_timeout and idle > idle_timeout and server._open == 0):
            server.shutdown()
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.fake_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--concurrency", type=int, default=None, help="requests served at once; others wait")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--faults", default=",".join(FAULT_KINDS), help="comma-separated fault kinds to inject")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retry-after", type=float, default=0.05)
    parser.add_argument("--hang", type=float, default=2.0, help="seconds a 'timeout' fault hangs")
    parser.add_argument("--always-fail", action="append", default=[], metavar="KIND=TEXT",
                        help="requests containing TEXT always meet fault KIND")
    parser.add_argument("--slow", action="append", default=[], metavar="SECONDS=TEXT",
                        help="requests containing TEXT take SECONDS instead of --latency")
    parser.add_argument("--idle-timeout", type=float, default=300.0, help="exit after this long without requests")
    args = parser.parse_args(argv)
    always = {}
    for item in args.always_fail:
        kind, _, needle = item.partition("=")
        always[needle] = kind
    slow = {}
    for item in args.slow:
        seconds, _, needle = item.partition("=")
        slow[needle] = float(seconds)
    server = FakeServer(
        latency=args.latency, concurrency=args.concurrency, fault_rate=args.fault_rate,
        faults=[f for f in args.faults.split(",") if f], seed=args.seed, retry_after=args.retry_after,
        hang=args.hang, always_fail=always, slow=slow, port=args.port,
    )  # fmt: skip
    threading.Thread(target=_watch, args=(server, os.getppid(), args.idle_timeout), daemon=True).start()
    print(json.dumps({"url": server.url, "pid": os.getpid()}), flush=True)
    try:
        server.serve_forever(0.05)
    except KeyboardInterrupt:
        pass
    finally:
        server._closing.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
