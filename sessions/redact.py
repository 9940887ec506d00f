"""Keeping credentials out of session files.

Two independent guards: a configuration with secret-looking keys is refused
outright (the caller must not even try to store it), and every record the
store writes is scrubbed of the values of ``*_API_KEY`` environment
variables, because providers echo keys back in error messages and people
paste them into prompts.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"
# Shorter values would redact ordinary words; real keys are far longer.
MIN_SECRET_LENGTH = 8
_SECRET_WORDS = ("api_key", "apikey", "authorization", "password", "passwd", "secret", "credential", "bearer")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[_\W]+")


def is_secret_key(name: str) -> bool:
    """``api_key``, ``Authorization``, ``openai_key``, ``hf_token``, ``accessToken`` ...

    but not ``max_tokens`` or ``keywords``: a name is secret when it contains
    one of the secret words, ends in the word ``key``, or has a word that is
    (or ends in) ``token``.
    """
    snake = _CAMEL.sub("_", name).lower().replace("-", "_")
    if any(word in snake for word in _SECRET_WORDS):
        return True
    words = [w for w in _SEPARATORS.split(snake) if w]
    return bool(words) and (words[-1] == "key" or any(w.endswith("token") for w in words))


def check_config(config: Any, where: str = "config") -> None:
    """Raise ValueError if ``config`` holds anything that looks like a credential."""
    secrets = env_secrets()
    _check(config, where, secrets)


def _check(value: Any, where: str, secrets: list[str]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            path = f"{where}.{key}"
            # A number is a limit or a count (token_budget: 5000), never a credential.
            if is_secret_key(str(key)) and not isinstance(item, (int, float)):
                raise ValueError(
                    f"{path} looks like a secret; API keys and tokens are never stored in a session "
                    "(give them through the environment)"
                )
            _check(item, path, secrets)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check(item, f"{where}[{i}]", secrets)
    elif isinstance(value, str) and any(secret in value for secret in secrets):
        raise ValueError(f"{where} contains the value of an *_API_KEY environment variable")


def env_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of ``*_API_KEY`` environment variables worth redacting."""
    environ = os.environ if environ is None else environ
    return sorted(
        {v for k, v in environ.items() if k.upper().endswith("_API_KEY") and len(v) >= MIN_SECRET_LENGTH},
        key=len,
        reverse=True,  # longest first, so a key that contains another is redacted whole
    )


def scrub(value: Any, secrets: list[str]) -> Any:
    """A copy of JSON-able ``value`` with every occurrence of a secret replaced."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    return value


class ScrubbedStream:
    """A text stream that writes to ``stream`` with every secret replaced, as
    the store scrubs what it writes: what a model echoes (a key in an error
    message, a prompt) reaches neither a session nor the terminal.

    Text is held until its line ends (``print`` writes a line in two calls,
    ``json.dump`` in many), so a secret split across writes is still found;
    ``flush`` passes a pending partial line on.  Anything else (``isatty``,
    ``fileno``, ``encoding``) is the wrapped stream's."""

    def __init__(self, stream, secrets: list[str]) -> None:
        self._stream = stream
        # As ``--json`` prints them too: a key with a character JSON escapes looks different there.
        escaped = {json.dumps(s)[1:-1] for s in secrets} | {json.dumps(s, ensure_ascii=False)[1:-1] for s in secrets}
        self._secrets = sorted(set(secrets) | escaped, key=len, reverse=True)
        self._pending = ""

    def write(self, text: str) -> int:
        if not self._secrets:
            return self._stream.write(text)
        self._pending += text
        cut = max(self._pending.rfind("\n"), self._pending.rfind("\r")) + 1
        if cut:
            done, self._pending = self._pending[:cut], self._pending[cut:]
            self._stream.write(scrub(done, self._secrets))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._pending:
            self._stream.write(scrub(self._pending, self._secrets))
            self._pending = ""
        self._stream.flush()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)
