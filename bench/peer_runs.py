"""The systems ``bench/peers.py`` runs: each one GEPA optimization on the
fake endpoint, returning the metric calls it counted.

Every system asks the same target requests (reflectloop's, so the fake
endpoint answers them as evaluations) and scores them with reflectloop's
exact match, so only the optimizers differ: their order of calls, their
meta-prompts and what they do between calls.
"""
from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from reflectloop.core.evaluation.prompting import target_messages
from reflectloop.core.evaluation.scoring import score_output
from reflectloop.core.methods.context import exact_match_feedback
from reflectloop.core.methods.rounds import parse_sampling, parse_selection
from reflectloop.core.tasks import load_task
from reflectloop.core.types import ExampleResult, Prompt

# The fake target scores it about 0.4: few minibatches are perfect, so few iterations are skipped.
SEED_PROMPT = "Read the instructions and tell if they lead back to the start."


@dataclass(frozen=True)
class Setup:
    url: str  # the endpoint's OpenAI base URL
    home: Path  # this run's own folder (reflectloop: its home, so its response cache starts empty)
    data_dir: str
    dev: int
    iterations: int
    minibatch: int
    slots: int
    sampling: str
    selection: str
    seed: int


@dataclass(frozen=True)
class Ran:
    wall: float  # seconds from the call that starts the optimization to its return
    metric_calls: int  # as the package counts them


@dataclass(frozen=True)
class Peer:
    run: Callable[[Setup], Ran]
    available: Callable[[], bool]
    install: str = ""


# ------------------------------------------------------------------ reflectloop
def run_reflectloop(s: Setup) -> Ran:
    """``reflectloop run --method gepa`` through the service layer, headless (the auto-reviewer)."""
    from reflectloop.core.review import AutoReviewer
    from reflectloop.core.settings.config import from_dict
    from reflectloop.sessions.service import open_run

    s.home.mkdir(parents=True)
    os.environ["REFLECTLOOP_HOME"] = str(s.home)
    given = s.home / "seed.json"
    given.write_text(json.dumps([SEED_PROMPT]))
    config = from_dict(dict(
        task="paper:navigate", data_dir=s.data_dir, method="gepa", steps=2, seed=s.seed, dev_size=s.dev,
        test_size=0, init_prompts=1, initial_prompts=str(given), errors=s.minibatch, gepa_iterations=s.iterations,
        gepa_sampling=s.sampling, gepa_selection=s.selection, concurrency=s.slots,
        target="openai:fake", target_base_url=s.url, optimizer="openai:fake", optimizer_base_url=s.url,
    ))  # fmt: skip

    async def drive() -> Ran:
        started = time.perf_counter()
        run = open_run(config, AutoReviewer(), session=s.home / "run.session")
        try:
            await run.drive()
        finally:
            await run.close()
        return Ran(time.perf_counter() - started, run.loop.selection.search.metric_calls)

    return asyncio.run(drive())


# ------------------------------------------------------------- gepa.optimize
def run_gepa(s: Setup) -> Ran:
    """``gepa.optimize`` with an adapter whose ``batch_evaluate`` and reflection
    LM's ``batch_complete`` send their requests on ``slots`` threads."""
    import gepa
    import openai
    from gepa.core.adapter import EvaluationBatch
    from gepa.strategies import proposal_sampling as sampling
    from gepa.strategies import proposal_selection as selection

    task = load_task("paper:navigate", data_dir=s.data_dir, seed=s.seed, dev_size=s.dev, test_size=0)
    client = openai.OpenAI(base_url=s.url, api_key="fake")
    threads = ThreadPoolExecutor(s.slots)

    def ask(messages: list[dict], temperature: float) -> str:
        reply = client.chat.completions.create(model="fake", messages=messages, temperature=temperature)
        return reply.choices[0].message.content or ""

    def scored(job):
        candidate, example = job
        messages = [{"role": m.role, "content": m.content}
                    for m in target_messages(Prompt("p", candidate["instruction"]), example)]
        text = ask(messages, 0.0)
        answer, correct, followed = score_output(text, example.targets)
        feedback = exact_match_feedback(ExampleResult(example.id, text, answer, correct, followed), example.targets)
        return text, 1.0 if correct else 0.0, {"Inputs": example.input, "Generated Outputs": text,
                                               "Feedback": feedback}

    class Adapter:
        propose_new_texts = None

        def evaluate(self, batch, candidate, capture_traces=False):
            return self.batch_evaluate([(candidate, batch)], capture_traces)[0]

        def batch_evaluate(self, items, capture_traces=True):
            results = iter(list(threads.map(scored, [(c, ex) for c, batch in items for ex in batch])))
            out = []
            for _, batch in items:
                got = [next(results) for _ in batch]
                out.append(EvaluationBatch([g[0] for g in got], [g[1] for g in got],
                                           [g[2] for g in got] if capture_traces else None))
            return out

        def make_reflective_dataset(self, candidate, eval_batch, components_to_update):
            return {name: list(eval_batch.trajectories) for name in components_to_update}

    class Reflection:
        def __call__(self, prompt: str) -> str:
            return ask([{"role": "user", "content": prompt}], 1.0)

        def batch_complete(self, messages_list):
            return list(threads.map(lambda m: ask(m, 1.0), messages_list))

    shape, keep = parse_sampling(s.sampling), parse_selection(s.selection)
    sampler = (sampling.SingleMutationSampling() if shape.size == 1
               else sampling.PxNSampling(shape.parents, shape.per_parent))
    chooser = (selection.AllImprovements() if keep is None else selection.BestImprovement() if keep == 1
               else selection.TopKImprovements(keep))
    started = time.perf_counter()
    try:
        result = gepa.optimize(
            seed_candidate={"instruction": SEED_PROMPT}, trainset=list(task.dev), valset=list(task.dev),
            adapter=Adapter(), reflection_lm=Reflection(), reflection_minibatch_size=s.minibatch, seed=s.seed,
            stop_callbacks=[lambda state: state.i + 1 >= s.iterations], sampling_strategy=sampler,
            selection_strategy=chooser, logger=Quiet(),
        )
        wall = time.perf_counter() - started
    finally:
        threads.shutdown()
        client.close()
    return Ran(wall, int(result.total_metric_calls))


class Quiet:
    def log(self, message: str) -> None:
        pass


# ----------------------------------------------------------------------- dspy
DSPY_PYTHON = os.environ.get("PEERS_DSPY_PYTHON", "")  # a Python with dspy installed, if not this one


def dspy_python() -> str | None:
    if importlib.util.find_spec("dspy") is not None:
        return sys.executable
    return DSPY_PYTHON if DSPY_PYTHON and Path(DSPY_PYTHON).exists() else None


def run_dspy(s: Setup) -> Ran:
    """``dspy.GEPA`` in the Python that has dspy (``bench/peer_dspy.py``): it
    may be another one than this, since dspy pins packages of its own."""
    python = dspy_python()
    if python is None:
        raise RuntimeError("dspy is not installed")
    root = Path(__file__).resolve().parents[1]
    setup = json.dumps({**asdict(s), "seed_prompt": SEED_PROMPT}, default=str)
    ours = [] if python == sys.executable else [sysconfig.get_paths()["purelib"]]
    done = subprocess.run([python, str(root / "bench" / "peer_dspy.py"), setup, *ours], cwd=root,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dspy's run failed:\n{done.stderr[-3000:]}")
    return Ran(**json.loads(done.stdout.strip().splitlines()[-1]))


PEERS = {
    "reflectloop": Peer(run_reflectloop, lambda: True),
    "gepa": Peer(run_gepa, lambda: importlib.util.find_spec("gepa") is not None, "pip install gepa==0.1.4"),
    "dspy": Peer(run_dspy, lambda: dspy_python() is not None,
                 "pip install dspy, here or in a Python of its own named by PEERS_DSPY_PYTHON"),
}
