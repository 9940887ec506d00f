"""An OpenAI-compatible ``/v1/embeddings`` endpoint on 127.0.0.1 whose
vectors are fixed by the text (its letters counted, a..z), so two tools
asking it for the same texts get the same vectors.  ``models`` lists the
model each request named."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def vector(text: str) -> list[float]:
    lowered = text.lower()
    return [float(lowered.count(chr(code))) for code in range(ord("a"), ord("z") + 1)]


class _Handler(BaseHTTPRequestHandler):
    server: EmbeddingsServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        self.server.models.append(body.get("model"))
        data = [{"object": "embedding", "index": i, "embedding": vector(t)} for i, t in enumerate(texts)]
        tokens = sum(len(t.split()) for t in texts)
        payload = json.dumps({"object": "list", "data": data, "model": body.get("model"),
                              "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}).encode()
        status = 200 if self.path.rstrip("/").endswith("/embeddings") else 404
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


class EmbeddingsServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.models: list[str | None] = []
        self._thread = threading.Thread(target=self.serve_forever, args=(0.01,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> EmbeddingsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
