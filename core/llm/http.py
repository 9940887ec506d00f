"""JSON over HTTP for OpenAI-compatible servers: one POST, one decoded
object, every failure a classified ``ProviderError``.

Why not the ``openai`` SDK: at an endpoint's limit the client's CPU decides
how soon the next request leaves once a slot frees.  The SDK (request
options, its httpx transport and connection pool) costs about 2.4 ms of CPU a
call on this machine; aiohttp posting the same JSON costs about 0.45 ms
(``bench/throughput.py`` shows what that buys a step).  The wire format is
the same: the endpoint cannot tell the difference.

One ``aiohttp.ClientSession`` per event loop, opened on first use, keeps
connections alive between calls.
Proxies come from the environment, as the SDK took them, read once per
client (aiohttp's ``trust_env`` would read them in a thread on every call).
"""
from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from reflectloop.core.llm.base import ProviderError, redact, status_error, timeout_error, unreachable_error

# An error body is quoted in the message, up to this many characters.
_QUOTED = 500


class JSONClient:
    """POSTs JSON to ``base_url`` + path.  ``spec`` names the model in
    messages, ``base_url`` the server; ``secret`` is scrubbed from them;
    ``key_variable`` is named by a 401/403's message."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str],
        timeout: float,
        spec: str,
        secret: str | None = None,
        key_variable: str = "",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"content-type": "application/json", **headers}
        self.timeout = timeout
        self.spec = spec
        self.secret = secret
        self.key_variable = key_variable
        self.proxy = env_proxy(self.base_url)
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The decoded JSON object the server answered with."""
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            session = await self._open()
            async with session.post(self.base_url + path, data=payload, headers=self.headers, proxy=self.proxy) as response:
                raw = await response.read()
                status, headers = response.status, response.headers
        except TimeoutError:
            raise timeout_error(self.spec, self.base_url, self.timeout) from None
        except aiohttp.ClientPayloadError:
            raise ProviderError(f"{self.spec}: the connection closed before the whole answer arrived",
                                retryable=True) from None
        except aiohttp.InvalidURL as exc:
            raise ProviderError(f"{self.spec}: {self.base_url} is not a URL: {exc}", retryable=False) from None
        except aiohttp.ClientError as exc:
            raise unreachable_error(self.spec, self.base_url, redact(str(exc), self.secret)) from None
        if status >= 400:
            text = redact(_error_text(raw), self.secret)
            raise status_error(self.spec, status, headers, text, self.key_variable)
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            # A cut or garbled body from an overloaded server or a proxy.
            raise ProviderError(f"{self.spec}: the response is not valid JSON: {exc}", retryable=True) from None
        if not isinstance(data, dict):
            raise ProviderError(f"{self.spec}: the response is not a JSON object", retryable=True)
        return data

    async def aclose(self) -> None:
        """Close the sessions of this loop and of loops that have ended."""
        loop = asyncio.get_running_loop()
        for owner in [o for o in self._sessions if o is loop or o.is_closed()]:
            await self._sessions.pop(owner).close()

    async def _open(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        # A session belongs to the loop it was made in, and a client may serve
        # several in turn (an audit runs one per session; a headless run may
        # precede the TUI).  An ended loop's session is closed here (aiohttp
        # knows its loop is gone) so that it is not reported as leaked.
        for owner in [o for o in self._sessions if o.is_closed()]:
            await self._sessions.pop(owner).close()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            # No connector limit: the LLM's semaphore is the one bound on calls in flight.
            connector = aiohttp.TCPConnector(limit=0)
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            session = self._sessions[loop] = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return session


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``,
    ``HTTP_PROXY``, ``ALL_PROXY``), None when there is none or ``NO_PROXY``
    exempts its host."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    # proxy_bypass_environment is in urllib.request (all supported Pythons) but not in typeshed's stub.
    if not proxies or urllib.request.proxy_bypass_environment(parts.hostname or "", proxies):  # type: ignore[attr-defined]
        return None
    return proxies.get(parts.scheme) or proxies.get("all")


def _error_text(raw: bytes) -> str:
    """The server's own words: ``error.message`` of an OpenAI-style error
    body, else the body itself, cut to a readable length."""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str) and message:
            text = message
    if len(text) > _QUOTED:
        text = text[:_QUOTED] + "…"
    return text or "(no body)"
