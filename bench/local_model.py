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

from core.llm import make_llm  # noqa: E402
from core.llm.base import sample_seed  # noqa: E402
from core.llm.local import DEFAULT_SEED, N_CTX, smollm2_path  # noqa: E402
from core.prompting import target_messages  # noqa: E402
from core.tasks import load_task  # noqa: E402
from core.types import Message, Params, Prompt  # noqa: E402

INSTRUCTION = "Decide whether the instructions lead back to the starting point. Think step by step."


def prompts(n: int) -> list[tuple[Message, ...]]:
    task = load_task("gen:navigate", seed=0, dev_size=n, test_size=0)
    return [target_messages(Prompt("p", INSTRUCTION), e) for e in task.dev]


def raw_model():
    from llama_cpp import Llama

    # The parameters LocalProvider loads with (core/llm/local.py).
    return Llama(model_path=str(smollm2_path()), n_ctx=N_CTX, n_threads=os.cpu_count(), verbose=False)


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


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=6, help="evaluation prompts per round")
    parser.add_argument("--max-tokens", type=int, default=96)
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
    return 0 if ratio >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
