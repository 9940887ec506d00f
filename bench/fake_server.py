"""A fake LLM endpoint for benchmarks and tests: OpenAI-compatible
``/v1/chat/completions`` and ``/v1/models``, plus an Anthropic-shaped
``/v1/messages``, on 127.0.0.1 at a free port.

What it models:

* **latency** — every answer takes ``latency`` seconds (429s answer at once,
  as rate limiters do); ``slow`` maps a substring of the request to a
  latency of its own;
* **a concurrency cap** — at most ``concurrency`` requests are served at a
  time; the others wait for a slot, as at an endpoint's limit;
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

Answers are deterministic functions of the request, never of the seed or the
faults, so a run with faults scores exactly like one without on the calls
that got through:

* an **evaluation** prompt (it ends with reflectloop's answer-format line)
  gets ``{"answer": ...}``: the answer is computed from the input (navigate
  walks are simulated; "How many" sums the quantities; else "A"), and the
  prompt's instruction has a "skill" (a hash) deciding, per input, whether
  the answer is given right or flipped, so prompts score differently;
* every other prompt is an **optimizer** prompt and gets three tagged spans,
  ``<START>…<END>`` (or ``<INS>…</INS>`` when the prompt asks for those),
  distinct per request and per sample seed.

In-process (tests)::

    with FakeServer(latency=0.01, fault_rate=0.2, seed=3) as server:
        make_llm("openai:fake", role="target", base_url=server.openai_url)
        server.stats()["faults"]

As a subprocess (benchmarks), ``spawn_fake_server(...)`` runs
``python -m bench.fake_server``, which prints its URL on its first line and
exits when its parent dies or after ``--idle-timeout`` seconds without requests.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

try:  # the line every evaluation prompt ends with; kept in step with reflectloop
    from core.prompting import ANSWER_FORMAT
except ImportError:  # run from outside the repository
    ANSWER_FORMAT = 'Give your final answer as JSON on the last line, like {"answer": "..."}.'

FAULT_KINDS = ("429", "500", "timeout", "truncated", "invalid", "empty")
MODEL_ID = "fake"
SPANS = 3  # tagged spans per optimizer answer: enough for every method's parse


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


# ------------------------------------------------------------------ answers
def _unit(*parts: object) -> float:
    """A stable number in [0, 1) from ``parts``."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()
    return int(digest[:13], 16) / 16**13


def _short(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:8]


_TAKE = re.compile(r"Take (\d+) steps?(?: (forward|backward|left|right))?")
_TURN = re.compile(r"Turn (left|right|around)")
_FIXED = {"forward": 1j, "backward": -1j, "left": -1 + 0j, "right": 1 + 0j}
_TURNS = {"left": 1j, "right": -1j, "around": -1 + 0j}
_NUMBERS = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_NUMBERS.update({"a": 1, "an": 1})


def solve(text: str) -> str:
    """An answer computed from the input alone."""
    if _TAKE.search(text):
        position, heading = 0j, 1j
        for match in re.finditer(f"{_TAKE.pattern}|{_TURN.pattern}", text):
            steps, fixed, turn = match.groups()
            if turn:
                heading *= _TURNS[turn]
            else:
                position += int(steps) * (_FIXED[fixed] if fixed else heading)
        return "A" if position == 0 else "B"
    if "How many" in text:
        items = re.split(r",\s*(?:and\s+)?|\s+and\s+", text.split("How many")[0].removeprefix("I have "))
        total = 0
        for item in items:
            first = item.strip().split(" ", 1)[0].lower()
            total += int(first) if first.isdigit() else _NUMBERS.get(first, 0)
        return str(total)
    return "A"


def _wrong(answer: str) -> str:
    if answer in ("A", "B"):
        return "B" if answer == "A" else "A"
    return str(int(answer) + 1) if answer.isdigit() else "none"


def evaluation_answer(instruction: str, example_input: str) -> str:
    """The target's answer: right or flipped by the instruction's skill."""
    skill = 0.2 + 0.6 * _unit("skill", instruction)
    right = solve(example_input)
    answer = right if _unit("example", instruction, example_input) < skill else _wrong(right)
    return f"Working through the input step by step.\n{json.dumps({'answer': answer})}"


def optimizer_answer(prompt: str, seed: object) -> str:
    opener, closer = ("<INS>", "</INS>") if "<INS>" in prompt else ("<START>", "<END>")
    lowered = prompt.lower()
    reflective = ("reason" in lowered or "analy" in lowered or "suggest" in lowered) and "improved" not in lowered
    spans = []
    for i in range(SPANS):
        tag = _short(prompt, seed, i)
        if reflective:
            text = f"The instruction does not say how to handle case {tag}; the model guessed."
        else:
            text = (f"Variant {tag}: read the input carefully, work through it step by step, "
                    'and give the final answer as JSON like {"answer": "..."}.')
        spans.append(f"{opener}{text}{closer}")
    return "\n".join(spans)


def is_evaluation(prompt: str) -> bool:
    return prompt.rstrip().endswith(ANSWER_FORMAT)


def answer_text(prompt: str, seed: object = None) -> str:
    """What the fake model says to ``prompt`` (the last user message)."""
    body = prompt.rstrip()
    if is_evaluation(body):
        instruction, _, rest = body.rpartition("\n\nInput:\n")
        return evaluation_answer(instruction, rest[: -len(ANSWER_FORMAT)].strip())
    return optimizer_answer(prompt, seed)


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
        super().__init__(("127.0.0.1", port), _Handler)
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

    def stats(self) -> dict:
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
            "log": [{k: v for k, v in asdict(s).items() if k != "prompt"} for s in log],
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
        if self.fault_rate and _unit(self.seed, key, attempt) < self.fault_rate:
            return key, attempt, self.faults[int(_unit(self.seed, key, attempt, "kind") * len(self.faults))]
        return key, attempt, None

    def serve(self, handler: _Handler, api: str, body: dict) -> None:
        arrived = time.monotonic()
        with self._lock:
            self._open += 1
            self.max_open = max(self.max_open, self._open)
        if self._cap is not None:
            self._cap.acquire()
        started = time.monotonic()
        try:
            with self._lock:
                self._active += 1
                self.max_active = max(self.max_active, self._active)
            prompt = _last_user_text(body)
            key, attempt, fault = self._decide(api, body, prompt)
            kind = "evaluate" if is_evaluation(prompt) else "optimize"
            # Logged before the reply, so a request still hanging is in the log.
            served = Served(api, kind, key, attempt, fault, arrived, started, None, prompt)
            with self._lock:
                index = len(self.log)
                self.log.append(served)
            try:
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

    def _reply(self, handler: _Handler, api: str, body: dict, prompt: str, fault: str | None) -> None:
        if fault == "429":
            error = _error(api, "rate_limit_error", "Rate limit reached (fake server)")
            return handler.send_json(429, error, {"retry-after": f"{self.retry_after:g}"})
        if fault == "timeout":
            self._closing.wait(self.hang)
            handler.close_connection = True  # no reply: the client gave up long ago
            return None
        latency = next((t for needle, t in self.slow.items() if needle in prompt), self.latency)
        self._closing.wait(latency)
        if fault == "500":
            return handler.send_json(500, _error(api, "server_error", "Internal error (fake server)"))
        text = answer_text(prompt, body.get("seed"))
        payload = _success(api, body, prompt, "" if fault == "empty" else text, empty=fault == "empty")
        if fault == "truncated":
            return handler.send_truncated(payload)
        if fault == "invalid":
            data = json.dumps(payload).encode()
            return handler.send_raw(200, data[: len(data) // 2])
        return handler.send_json(200, payload)


def _last_user_text(body: dict) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # Anthropic content blocks
                return "".join(b.get("text", "") for b in content if isinstance(b, dict))
            return str(content or "")
    return ""


def _usage(body: dict, text: str) -> tuple[int, int]:
    sent = sum(len(str(m.get("content", ""))) for m in body.get("messages") or []) + len(str(body.get("system", "")))
    return max(1, sent // 4), max(1, len(text) // 4) if text else 0


def _success(api: str, body: dict, prompt: str, text: str, *, empty: bool) -> dict:
    prompt_tokens, completion_tokens = _usage(body, text)
    ident = _short(json.dumps(body, sort_keys=True))
    if api == "anthropic":
        return {
            "id": f"msg_fake_{ident}", "type": "message", "role": "assistant",
            "model": body.get("model", MODEL_ID),
            "content": [] if empty else [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens},
        }  # fmt: skip
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    return {
        "id": f"chatcmpl-fake-{ident}", "object": "chat.completion", "created": 0,
        "model": body.get("model", MODEL_ID),
        "choices": [] if empty else [choice],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }  # fmt: skip


def _error(api: str, kind: str, message: str) -> dict:
    if api == "anthropic":
        kind = {"server_error": "api_error"}.get(kind, kind)
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "code": None, "param": None}}


class _Handler(BaseHTTPRequestHandler):
    server: FakeServer
    protocol_version = "HTTP/1.1"  # keep-alive: clients pool their connections
    # Headers and body go out in separate writes; with Nagle's algorithm the
    # body would wait for the client's delayed ACK (~40 ms) on a kept-alive
    # connection.  Real endpoints do not pay that, so neither may this one.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            self.send_json(200, {"object": "list", "data": [
                {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "reflectloop-bench"}]})
        elif path == "/stats":
            self.send_json(200, self.server.stats())
        else:
            self.send_json(404, _error("openai", "not_found", f"no route {path}"))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        path = self.path.split("?", 1)[0].rstrip("/")
        api = "openai" if path.endswith("/chat/completions") else "anthropic" if path.endswith("/messages") else None
        if api is None:
            return self.send_json(404, _error("openai", "not_found", f"no route {path}"))
        try:
            body = json.loads(raw)
        except ValueError:
            return self.send_json(400, _error(api, "invalid_request_error", "the request body is not JSON"))
        self.server.serve(self, api, body)

    # ----------------------------------------------------------- replies
    def send_json(self, status: int, payload: object, headers: Mapping[str, str] | None = None) -> None:
        self.send_raw(status, json.dumps(payload).encode(), headers)

    def send_raw(self, status: int, data: bytes | str, headers: Mapping[str, str] | None = None) -> None:
        data = data.encode() if isinstance(data, str) else data
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_truncated(self, payload: object) -> None:
        """Announce the whole body, send half of it, hang up."""
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


# --------------------------------------------------------------- subprocess
class RemoteFakeServer:
    """A fake server in a child process (see ``spawn_fake_server``)."""

    def __init__(self, process: subprocess.Popen, url: str) -> None:
        self.process = process
        self.url = url
        self.openai_url = f"{url}/v1"

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/stats", timeout=10) as response:
            return json.loads(response.read())


@contextlib.contextmanager
def spawn_fake_server(*, idle_timeout: float = 300.0, **options: object) -> Iterator[RemoteFakeServer]:
    """``python -m bench.fake_server`` with ``options`` (FakeServer's keyword
    arguments), stopped at the end of the block; it also exits by itself if
    this process dies or after ``idle_timeout`` seconds without requests."""
    command = [sys.executable, "-m", "bench.fake_server", "--idle-timeout", str(idle_timeout)]
    for name, value in options.items():
        if name in ("always_fail", "slow"):
            for needle, what in dict(value).items():  # type: ignore[arg-type]
                command += [f"--{name.replace('_', '-')}", f"{what}={needle}"]
        elif name == "faults":
            command += ["--faults", ",".join(value)]  # type: ignore[arg-type]
        elif value is not None:
            command += [f"--{name.replace('_', '-')}", str(value)]
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line:
            raise RuntimeError(f"the fake server exited with {process.wait()} before it listened")
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
    parser = argparse.ArgumentParser(prog="python -m bench.fake_server", description=__doc__.split("\n\n")[0])
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
