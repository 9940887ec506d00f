"""The HTTP side of the fake LLM endpoint: OpenAI and Anthropic response and
error bodies, and the request handler that hands each request to
``FakeServer.serve``."""
from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

from tests.support.fake_answers import short

if TYPE_CHECKING:
    from tests.support.fake_server import FakeServer

MODEL_ID = "fake"


def last_user_text(body: dict) -> str:
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


def success_body(api: str, body: dict, text: str, *, empty: bool, more: tuple[str, ...] = ()) -> dict:
    """``more``: the texts of choices 2..n of an OpenAI request that asked for ``n``."""
    prompt_tokens, completion_tokens = _usage(body, text + "".join(more))
    ident = short(json.dumps(body, sort_keys=True))
    if api == "anthropic":
        return {
            "id": f"msg_fake_{ident}", "type": "message", "role": "assistant",
            "model": body.get("model", MODEL_ID),
            "content": [] if empty else [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens},
        }  # fmt: skip
    choices = [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
               for i, t in enumerate((text, *more))]
    return {
        "id": f"chatcmpl-fake-{ident}", "object": "chat.completion", "created": 0,
        "model": body.get("model", MODEL_ID),
        "choices": [] if empty else choices,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }  # fmt: skip


def error_body(api: str, kind: str, message: str) -> dict:
    if api == "anthropic":
        kind = {"server_error": "api_error"}.get(kind, kind)
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "code": None, "param": None}}


class Handler(BaseHTTPRequestHandler):
    server: FakeServer  # its serve() and stats() answer
    protocol_version = "HTTP/1.1"  # keep-alive: clients pool their connections
    # Answers go out in one write (``_head``); should a reply ever take two,
    # Nagle's algorithm would hold the second for the client's delayed ACK
    # (~40 ms) on a kept-alive connection.  Real endpoints do not pay that.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        path = path.rstrip("/")
        if path in ("/v1/models", "/models"):
            self.send_json(200, {"object": "list", "data": [
                {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "reflectloop-fake"}]})
        elif path == "/stats":
            since = urllib.parse.parse_qs(query).get("since", ["0"])[0]
            self.send_json(200, self.server.stats(since=int(since)))
        else:
            self.send_json(404, error_body("openai", "not_found", f"no route {path}"))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        path = self.path.split("?", 1)[0].rstrip("/")
        api = "openai" if path.endswith("/chat/completions") else "anthropic" if path.endswith("/messages") else None
        if api is None:
            return self.send_json(404, error_body("openai", "not_found", f"no route {path}"))
        try:
            body = json.loads(raw)
        except ValueError:
            return self.send_json(400, error_body(api, "invalid_request_error", "the request body is not JSON"))
        self.server.serve(self, api, body)

    # ----------------------------------------------------------- replies
    def send_json(self, status: int, payload: object, headers: Mapping[str, str] | None = None) -> None:
        self.send_raw(status, json.dumps(payload).encode(), headers)

    def send_raw(self, status: int, data: bytes | str, headers: Mapping[str, str] | None = None) -> None:
        data = data.encode() if isinstance(data, str) else data
        self.wfile.write(self._head(status, len(data), headers) + data)

    def send_truncated(self, payload: object) -> None:
        """Announce the whole body, send half of it, hang up."""
        data = json.dumps(payload).encode()
        self.wfile.write(self._head(200, len(data)) + data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True

    def _head(self, status: int, length: int, headers: Mapping[str, str] | None = None) -> bytes:
        """Status line and headers, sent in the same write as the body: one
        segment per answer, as a real server's buffered writer sends it (two
        writes cost both ends a wake-up each, at hundreds of answers a second)."""
        lines = [
            f"{self.protocol_version} {status} {self.responses.get(status, ('',))[0]}",
            "content-type: application/json",
            f"content-length: {length}",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def log_message(self, *args: object) -> None:
        pass
