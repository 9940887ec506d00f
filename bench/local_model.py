"""The embedded model: what does going through reflectloop cost?

    python bench/local_model.py [--rounds 3] [--prompts 6] [--max-tokens 96]

Tokens generated per second by ``local:smollm2`` through reflectloop
(``make_llm`` + ``LLM.complete``, no cache: the provider, its worker thread,
the client's bookkeeping) against ``llama_cpp.Llama`` called directly, in the
same process and run: the same GGUF file, the same parameters (context,
threads, temperature, top_p, max_tokens, seed), the same chat prompts in the
same order.  The two take turns, round by round (the order flips each round),
so a busy machine slows both alike.  Both must write the same text.

The figure is the ratio of the two rates (target >= 0.9).

Then **evaluations per second** on the study's request shape (``--protocol
study`` messages: system line, an ABO-sized instruction with its worked
example, the input): reflectloop's own evaluation path (``core.evaluation.evaluate``,
two prompts at once, as a step evaluates candidates) against raw
``llama_cpp`` on the same requests under each setting tried -- threads,
``n_batch``, and the order of the requests: grouped by prompt, so llama.cpp
reuses the shared prompt prefix it still holds, or interleaved, where it
cannot, unless a ``LlamaRAMCache`` keeps each prefix's state.  The figures
end the output: ``evals/s reflectloop``, ``evals/s raw best`` (with its
setting) and ``prefix reuse``, the gain of grouped over interleaved order.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reflectloop.core.llm import make_llm  # noqa: E402
from reflectloop.core.llm.base import sample_seed  # noqa: E402
from reflectloop.core.llm.local import DEFAULT_SEED, TRAINED, smollm2_path  # noqa: E402
from reflectloop.core.evaluation.prompting import target_messages  # noqa: E402
from reflectloop.core.tasks import load_task  # noqa: E402
from reflectloop.core.types import Message, Params, Prompt  # noqa: E402

INSTRUCTION = "Decide whether the instructions lead back to the starting point. Think step by step."
# ABO-sized prompts (a step-by-step instruction and a worked example), the long shared prefix of a step.
STUDY_INSTRUCTIONS = tuple(
    f"Variant {v}. Follow these steps to decide whether the instructions lead back to the starting point.\n"
    "Step 1: start at the origin facing north; write the position as (x, y).\n"
    "Step 2: read each instruction in order; a turn changes only the direction you face.\n"
    "Step 3: for each 'Take N steps', move N units in the direction given or the one you face.\n"
    "Step 4: after the last instruction compare the position with the origin.\n"
    "Step 5: answer Yes if it is the origin, else No.\n\n"
    "Example: Always face forward. Take 2 steps forward. Take 2 steps backward.\n"
    "(0, 0) facing north; 2 forward gives (0, 2); 2 backward gives (0, 0); the origin: Yes."
    for v in ("A", "B")
)


def prompts(n: int) -> list[tuple[Message, ...]]:
    task = load_task("gen:navigate", seed=0, dev_size=n, test_size=0)
    return [target_messages(Prompt("p", INSTRUCTION), e) for e in task.dev]


def raw_model():
    from llama_cpp import Llama

    # The parameters LocalProvider loads with (core/llm/local.py).
    return Llama(model_path=str(smollm2_path()), n_ctx=TRAINED, n_threads=os.cpu_count(), verbose=False)


def raw_pass(model, batch, params: Params) -> tuple[float, int, list[str]]:
    started = time.perf_counter()
    tokens, texts = 0, []
    for messages in batch:
        response = model.create_chat_completion(
            messages=[{"role": m.role, "content": m.content} for m in messages],
            temperature=params.temperature, top_p=params.top_p, max_tokens=params.max_tokens,
            stop=list(params.stop), seed=sample_seed(params, DEFAULT_SEED),
        )  # fmt: skip
        tokens += response["usage"]["completion_tokens"]
        texts.append(response["choices"][0]["message"]["content"] or "")
    return time.perf_counter() - started, tokens, texts


async def ours_pass(llm, batch, params: Params) -> tuple[float, int, list[str]]:
    started = time.perf_counter()
    tokens, texts = 0, []
    for messages in batch:
        completion = await llm.complete(messages, params, purpose="evaluate")
        tokens += completion.usage.completion_tokens
        texts.append(completion.text)
    return time.perf_counter() - started, tokens, texts


def study_requests(n: int) -> list[tuple[int, tuple[Message, ...]]]:
    """``n`` examples for each of the two study-shaped prompts, as (prompt index, messages), grouped by prompt."""
    task = load_task("gen:navigate", seed=1, dev_size=n, test_size=0)
    return [(i, target_messages(Prompt(f"p{i}", text), e, "study"))
            for i, text in enumerate(STUDY_INSTRUCTIONS) for e in task.dev]


def interleaved(requests):
    by_prompt = [[r for r in requests if r[0] == i] for i in range(len(STUDY_INSTRUCTIONS))]
    return [r for group in zip(*by_prompt) for r in group]


def raw_evals_per_second(requests, params: Params, *, threads: int, n_batch: int, ram_cache: bool) -> float:
    from llama_cpp import Llama, LlamaRAMCache

    model = Llama(model_path=str(smollm2_path()), n_ctx=TRAINED, n_threads=threads, n_batch=n_batch, verbose=False)
    if ram_cache:
        model.set_cache(LlamaRAMCache(capacity_bytes=256 << 20))
    raw_pass(model, [m for _, m in requests[:1]], params)  # pages the model in
    seconds, _, _ = raw_pass(model, [m for _, m in requests], params)
    return len(requests) / seconds


async def ours_evals_per_second(requests, params: Params) -> float:
    from reflectloop.core.evaluation.evaluate import evaluate

    task = load_task("gen:navigate", seed=1, dev_size=len(requests) // len(STUDY_INSTRUCTIONS), test_size=0)
    llm = make_llm("local:smollm2", role="target", cache=None)
    await llm.complete(requests[0][1], params, purpose="evaluate")
    started = time.perf_counter()
    await asyncio.gather(*(evaluate(llm, Prompt(f"p{i}", text), task.dev, split="dev", params=params, protocol="study")
                           for i, text in enumerate(STUDY_INSTRUCTIONS)))
    return len(requests) / (time.perf_counter() - started)


async def study_shape(n: int, max_tokens: int) -> None:
    requests = study_requests(n)
    params = Params(temperature=0.0, max_tokens=max_tokens)
    cores = os.cpu_count() or 1
    settings = [("grouped", t, b, False) for t in sorted({1, cores}) for b in (512, 64)]
    settings += [("interleaved", cores, 512, False), ("interleaved", cores, 512, True)]
    print(f"study request shape: {len(requests)} evaluations ({len(STUDY_INSTRUCTIONS)} ABO-sized prompts x {n} "
          f"examples), max_tokens {max_tokens}")
    rates = {}
    for order, threads, n_batch, ram in settings:
        batch = requests if order == "grouped" else interleaved(requests)
        rate = raw_evals_per_second(batch, params, threads=threads, n_batch=n_batch, ram_cache=ram)
        label = f"raw {order}, {threads} threads, n_batch {n_batch}{', RAM cache' if ram else ''}"
        rates[label] = rate
        print(f"{label:<52} {rate:5.2f} evals/s")
    ours = await ours_evals_per_second(requests, params)
    print(f"{'reflectloop (core.evaluation.evaluate, 2 prompts at once)':<52} {ours:5.2f} evals/s")
    best = max(rates, key=rates.get)
    grouped = rates[f"raw grouped, {cores} threads, n_batch 512"]
    mixed = rates[f"raw interleaved, {cores} threads, n_batch 512"]
    print(f"evals/s reflectloop: {ours:.2f}")
    print(f"evals/s raw best: {rates[best]:.2f} ({best})")
    print(f"prefix reuse: {grouped / mixed:.2f}x")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=6, help="evaluation prompts per round")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--study-examples", type=int, default=4, help="examples per prompt, study shape (4)")
    parser.add_argument("--study-max-tokens", type=int, default=24, help="max_tokens per evaluation, study shape (24)")
    args = parser.parse_args()

    batch = prompts(args.prompts)
    params = Params(temperature=0.0, max_tokens=args.max_tokens)
    print(f"local:smollm2 ({smollm2_path().name}), {os.cpu_count()} threads, n_ctx {N_CTX}; "
          f"{args.prompts} prompts x {args.rounds} rounds, max_tokens {args.max_tokens}")
    raw = raw_model()
    llm = make_llm("local:smollm2", role="target", cache=None)
    # Warm-up: loads reflectloop's copy of the model, pages in both.
    raw_pass(raw, batch[:1], params)
    await ours_pass(llm, batch[:1], params)

    rates: dict[str, list[float]] = {"raw": [], "reflectloop": []}
    totals = {"raw": [0.0, 0], "reflectloop": [0.0, 0]}
    for round_ in range(args.rounds):
        order = ("raw", "reflectloop") if round_ % 2 == 0 else ("reflectloop", "raw")
        texts = {}
        for who in order:
            if who == "raw":
                seconds, tokens, texts[who] = raw_pass(raw, batch, params)
            else:
                seconds, tokens, texts[who] = await ours_pass(llm, batch, params)
            rates[who].append(tokens / seconds)
            totals[who][0] += seconds
            totals[who][1] += tokens
        if texts["raw"] != texts["reflectloop"]:
            print("the two wrote different text: the comparison is not like for like")
            return 2
        sys.stderr.write(f"\rround {round_ + 1}/{args.rounds}: raw {rates['raw'][-1]:6.1f} tok/s, "
                         f"reflectloop {rates['reflectloop'][-1]:6.1f} tok/s")
        sys.stderr.flush()
    sys.stderr.write("\n")
    for who in ("raw", "reflectloop"):
        seconds, tokens = totals[who]
        print(f"{who:<12} {tokens:>5} tokens in {seconds:6.2f} s: {tokens / seconds:6.1f} tok/s "
              f"(per round: {', '.join(f'{r:.1f}' for r in rates[who])})")
    ratio = (totals["reflectloop"][1] / totals["reflectloop"][0]) / (totals["raw"][1] / totals["raw"][0])
    median = statistics.median(o / r for o, r in zip(rates["reflectloop"], rates["raw"]))
    print(f"ratio reflectloop / raw: {ratio:.3f} overall, {median:.3f} median of rounds "
          f"(target >= 0.9): {'ok' if ratio >= 0.9 else 'MISSED'}")
    await study_shape(args.study_examples, args.study_max_tokens)
    return 0 if ratio >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
