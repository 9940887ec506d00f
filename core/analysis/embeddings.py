"""Similarity from embeddings, through ``core.llm`` like every other model
call: each text is cached by (model, text), each request is a call record
with purpose "embed", and keys are never written (the provider scrubs them
from its errors).

The audit's similarity interface is synchronous, and it is used both from
plain code (``audit``) and from inside a running event loop (``run_control``
after its re-asks).  The embedding model's async client must stay on one
loop for its whole life (its pooled connections belong to the loop that
opened them), so the backend runs its calls on an event loop of its own, in
a daemon thread, and waits for them.
"""
from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Coroutine, Sequence
from types import EllipsisType
from typing import Any, TypeVar

from reflectloop.core.analysis.text import Similarity, TfIdfSimilarity
from reflectloop.core.llm import KNOWN_PROVIDERS, LLM, Cache, make_llm
from reflectloop.core.types import CallRecord

T = TypeVar("T")


class _LoopThread:
    """An event loop running in a daemon thread, for calls from sync code."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="embeddings", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        # Blocks the caller, even a caller on another loop: the audit has
        # nothing else to do until the vectors are there.
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


class EmbeddingSimilarity:
    """Cosine of embeddings from ``llm`` (an ``LLM`` whose provider embeds:
    ``openai:MODEL`` on OpenAI or any OpenAI-compatible ``/v1/embeddings``,
    or ``local:...``).  Negative cosines are clipped to 0 so every backend
    shares the [0, 1] range.  ``close()`` releases the model's connections."""

    def __init__(self, llm: LLM) -> None:
        llm.check_embeds()  # refused now, not at the first matrix
        self.llm = llm
        self.name = f"embeddings:{llm.spec}"
        self._runner: _LoopThread | None = None

    def embed(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        if self._runner is None:
            self._runner = _LoopThread()
        return self._runner.run(self.llm.embed(list(texts), purpose="embed"))

    def matrix(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self.embed(texts) if texts else []
        norms = [math.sqrt(sum(x * x for x in v)) for v in vectors]
        n = len(vectors)
        out = [[0.0] * n for _ in range(n)]
        for i in range(n):
            out[i][i] = 1.0 if norms[i] else 0.0
            for j in range(i + 1, n):
                if norms[i] and norms[j]:
                    c = sum(x * y for x, y in zip(vectors[i], vectors[j])) / (norms[i] * norms[j])
                    out[i][j] = out[j][i] = max(0.0, min(1.0, c))
        return out

    def close(self) -> None:
        if self._runner is not None:
            self._runner.run(self.llm.aclose())
            self._runner.stop()
            self._runner = None

    def __enter__(self) -> EmbeddingSimilarity:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def embedding_spec(embeddings: str) -> str:
    """``provider:model`` as it is, or a bare model name of an
    OpenAI-compatible endpoint (``nomic-embed-text``, ``bge-m3:latest``) as
    ``openai:NAME``."""
    provider, colon, _ = embeddings.partition(":")
    return embeddings if colon and provider in KNOWN_PROVIDERS else f"openai:{embeddings}"


def make_similarity(
    embeddings: str | None = None,
    base_url: str | None = None,
    *,
    cache: Cache | None | EllipsisType = ...,
    on_call: Callable[[CallRecord], None] | None = None,
) -> Similarity:
    """TF-IDF unless an embedding model is named (as ``embedding_spec``
    reads it).  ``cache`` and ``on_call`` as ``make_llm`` takes them
    (default: the on-disk response cache).  Close the backend when done."""
    if not embeddings:
        return TfIdfSimilarity()
    llm = make_llm(embedding_spec(embeddings), role="embeddings", base_url=base_url, cache=cache, on_call=on_call)
    return EmbeddingSimilarity(llm)
