"""``dspy.GEPA`` for ``bench/peers.py``, run in a Python that has dspy
(``PEERS_DSPY_PYTHON``, or the bench's own): one optimization on the fake
endpoint, then a JSON line with its wall time and metric calls.

    python bench/peer_dspy.py SETUP_JSON [SITE_PACKAGES]

SETUP_JSON is ``bench.peer_runs.Setup`` as a dict.  SITE_PACKAGES, when
given, is put after this Python's own paths, so what dspy's Python lacks of
reflectloop's (which only builds its requests and scores the answers) comes
from the bench's, while dspy and its own pins come first.

The target is asked exactly as reflectloop and the package ask it (a dspy
adapter of its own renders reflectloop's request and keeps the raw answer),
so the fake endpoint answers it as an evaluation and only the optimizers
differ; the reflection LM's answers are put in dspy's own output format.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

if len(sys.argv) > 2:
    sys.path.append(sys.argv[2])
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download of litellm's price list

import dspy  # noqa: E402
from gepa.strategies import proposal_sampling as sampling  # noqa: E402
from gepa.strategies import proposal_selection as selection  # noqa: E402

from reflectloop.core.evaluation.prompting import target_messages  # noqa: E402
from reflectloop.core.evaluation.scoring import score_output  # noqa: E402
from reflectloop.core.methods.context import exact_match_feedback  # noqa: E402
from reflectloop.core.methods.rounds import parse_sampling, parse_selection  # noqa: E402
from reflectloop.core.tasks import load_task  # noqa: E402
from reflectloop.core.types import Example, ExampleResult, Prompt  # noqa: E402


class TargetRequest(dspy.ChatAdapter):
    """The task's predictor: reflectloop's request for one example, the answer
    kept whole (the metric scores it).  dspy's own signatures (its instruction
    proposer's) go through the chat adapter as ever."""

    @staticmethod
    def _ours(signature) -> bool:
        return set(signature.input_fields) == {"input"} and set(signature.output_fields) == {"answer"}

    def format(self, signature, demos, inputs):
        if not self._ours(signature):
            return super().format(signature, demos, inputs)
        example = Example("x", inputs["input"], ())
        return [{"role": m.role, "content": m.content}
                for m in target_messages(Prompt("p", signature.instructions), example)]

    def parse(self, signature, completion):
        return {"answer": completion} if self._ours(signature) else super().parse(signature, completion)


class FormattedLM(dspy.LM):
    """The reflection LM as a model that follows dspy's output format: the fake
    endpoint answers every optimizer prompt with tagged spans, which dspy's
    instruction proposer cannot read; its first span becomes the field dspy asks
    for.  The calls, and their latency, are the endpoint's, untouched."""

    def __call__(self, prompt=None, *, messages=None, **kwargs):
        outputs = super().__call__(prompt, messages=messages, **kwargs)
        if not isinstance(outputs, list):
            return outputs
        return [self._field(o) if isinstance(o, str)
                else {**o, "text": self._field(o["text"])} if isinstance(o, dict) and isinstance(o.get("text"), str)
                else o for o in outputs]

    @staticmethod
    def _field(text: str) -> str:
        first = text.split("<START>", 1)[-1].split("<END>", 1)[0].strip()
        return json.dumps({"new_instruction": first})  # its proposer reads the answer as JSON


def metric(gold, pred, trace=None, pred_name=None, pred_trace=None):
    text = pred.answer or ""
    answer, correct, followed = score_output(text, gold.targets)
    feedback = exact_match_feedback(ExampleResult(gold.id, text, answer, correct, followed), gold.targets)
    return dspy.Prediction(score=1.0 if correct else 0.0, feedback=feedback)


def main() -> int:
    s = json.loads(sys.argv[1])
    task = load_task("paper:navigate", data_dir=s["data_dir"], seed=s["seed"], dev_size=s["dev"], test_size=0)
    dev = [dspy.Example(input=e.input, targets=e.targets, id=e.id).with_inputs("input") for e in task.dev]
    endpoint = dict(api_base=s["url"], api_key="fake", cache=False, num_retries=0)
    dspy.configure(lm=dspy.LM("openai/fake", temperature=0.0, **endpoint), adapter=TargetRequest())
    seed_prompt = s["seed_prompt"]
    program = dspy.Predict(dspy.Signature("input -> answer", seed_prompt))
    shape, keep = parse_sampling(s["sampling"]), parse_selection(s["selection"])
    kwargs = {
        "stop_callbacks": [lambda state: state.i + 1 >= s["iterations"]],
        "sampling_strategy": (sampling.SingleMutationSampling() if shape.size == 1
                              else sampling.PxNSampling(shape.parents, shape.per_parent)),
        "selection_strategy": (selection.AllImprovements() if keep is None else selection.BestImprovement()
                               if keep == 1 else selection.TopKImprovements(keep)),
    }
    optimizer = dspy.GEPA(metric=metric, max_metric_calls=10**9, reflection_minibatch_size=s["minibatch"],
                          reflection_lm=FormattedLM("openai/fake", temperature=1.0, **endpoint), num_threads=s["slots"],
                          use_merge=False, seed=s["seed"], track_stats=True, gepa_kwargs=kwargs)
    started = time.perf_counter()
    best = optimizer.compile(program, trainset=dev, valset=dev)
    wall = time.perf_counter() - started
    print(json.dumps({"wall": wall, "metric_calls": best.detailed_results.total_metric_calls}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
