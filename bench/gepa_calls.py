"""Metric calls per step: GEPA against APO at the same sizes.

A metric call is one prompt scored on one dev example, counted as the
``gepa`` package counts its budget.  GEPA's count includes each parent's
minibatch, which reflectloop answers from the parent's recorded dev outputs,
so the target calls actually made are printed beside it.

Both methods start from the same step 0 (the same initial prompts on the same
dev set, seed and models) and then run the same number of update steps.  The
models are scripted with the fake endpoint's answers (``tests.support.
fake_answers``): the target's accuracy depends on its instruction, and every
optimizer request gets distinct candidates.  Both run through the loop with
the auto-reviewer (GEPA through its Pareto selection, a card per reflection
and candidate); GEPA starts from APO's step-0 prompts, given as a file.

    python bench/gepa_calls.py [--steps 3] [--dev-size 20] [--beam 5] [--init-prompts 5]
                               [--iterations 10] [--minibatch 3]

Ends with ``NAME: VALUE`` lines.  Not a test: nothing here asserts.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reflectloop.core.settings.config import RunConfig  # noqa: E402
from reflectloop.core.events import EvaluationDone  # noqa: E402
from reflectloop.core.llm.cache import MemoryCache  # noqa: E402
from reflectloop.core.step.loop import Loop  # noqa: E402
from reflectloop.core.methods import make_method  # noqa: E402
from reflectloop.core.methods.gepa import GepaSettings  # noqa: E402
from reflectloop.core.review import AutoReviewer  # noqa: E402
from reflectloop.core.tasks import load_task  # noqa: E402
from tests.scripted import scripted_llm  # noqa: E402
from tests.support.fake_answers import answer_text  # noqa: E402


def models():
    """A scripted target and optimizer answering as the fake endpoint does."""
    answer = lambda text, params: answer_text(text, (params.seed, params.sample))  # noqa: E731
    target, target_provider = scripted_llm("fake:target", answer, role="target", cache=MemoryCache())
    optimizer, _ = scripted_llm("fake:optimizer", answer, role="optimizer", cache=MemoryCache())
    return target, target_provider, optimizer


async def run(config: RunConfig, task) -> tuple[list[int], list[int], Loop]:
    """Metric calls and target calls of each update step, through the loop and the auto-reviewer."""
    target, provider, optimizer = models()
    scored: dict[tuple[int, str], int] = {}  # (step, split) -> examples scored on the whole dev or test set

    def count(event) -> None:
        if isinstance(event, EvaluationDone):
            key = (event.step, event.evaluation.split)
            scored[key] = scored.get(key, 0) + len(event.evaluation.results)

    loop = Loop(task=task, config=config, method=make_method(config.method, optimizer, task, config), target=target,
                optimizer=optimizer, reviewer=AutoReviewer(), emit=count)
    await loop.run_step()
    metric, made = [], []
    for step in range(1, config.steps):
        search = getattr(loop.selection, "search", None)  # GEPA's: it counts as its package does
        spent, before = (search.metric_calls if search else 0), provider.calls
        await loop.run_step()
        # APO's metric calls are its dev evaluations; GEPA's include the minibatches.
        metric.append(search.metric_calls - spent if search else scored.get((step, "dev"), 0))
        made.append(provider.calls - before - scored.get((step, "test"), 0))  # a test score is no metric call
    return metric, made, loop


def mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3, help="steps counting step 0 (default 3)")
    parser.add_argument("--dev-size", type=int, default=20)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--init-prompts", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=GepaSettings.iterations, help="GEPA iterations per step")
    parser.add_argument("--minibatch", type=int, default=GepaSettings.minibatch)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.steps < 2:
        parser.error("--steps must be at least 2: step 0 and one update step")

    config = RunConfig(task="gen:navigate", method="apo", steps=args.steps, beam=args.beam, dev_size=args.dev_size,
                       test_size=8, init_prompts=args.init_prompts, seed=args.seed)
    task = load_task(config.task, seed=config.seed, dev_size=config.dev_size, test_size=config.test_size)
    apo_metric, apo_made, apo = asyncio.run(run(config, task))
    initial = [apo.state.prompts[i].instruction for i in apo.state.records[0].dev_scores]
    with tempfile.TemporaryDirectory() as tmp:
        given = Path(tmp) / "initial_prompts.json"
        given.write_text(json.dumps(initial))
        gepa_config = config.replace(method="gepa", errors=args.minibatch, gepa_iterations=args.iterations,
                                     initial_prompts=str(given), init_prompts=len(initial))
        gepa_metric, gepa_made, gepa = asyncio.run(run(gepa_config, task))
    gates = [g for r in gepa.state.records for g in r.gates]
    accepted = sum(g.accepted for g in gates) / len(gates) if gates else 0.0

    print(f"task {config.task}, dev {len(task.dev)}, {len(initial)} initial prompts, "
          f"{args.steps - 1} update steps; apo beam {args.beam}; gepa {args.iterations} iterations "
          f"of minibatch {args.minibatch} per step")
    for step, (a, b, c, d) in enumerate(zip(apo_metric, apo_made, gepa_metric, gepa_made), 1):
        print(f"  step {step}: apo {a} metric calls ({b} target calls), gepa {c} metric calls ({d} target calls)")
    ratio = mean(gepa_metric) / mean(apo_metric) if mean(apo_metric) else float("nan")
    results = {
        "apo metric calls per step": f"{mean(apo_metric):.1f}",
        "gepa metric calls per step": f"{mean(gepa_metric):.1f}",
        "apo target calls per step": f"{mean(apo_made):.1f}",
        "gepa target calls per step": f"{mean(gepa_made):.1f}",
        "gepa gate acceptance rate": f"{accepted:.2f}",
        "ratio gepa/apo": f"{ratio:.2f}",
    }
    for name, value in results.items():
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
