"""What the fake LLM endpoint (``tests.support.fake_server``) says.

Answers are deterministic functions of the request, never of the server's
seed or faults, so a run with faults scores exactly like one without on the
calls that got through:

* an **evaluation** prompt (it ends with reflectloop's answer-format line)
  gets ``{"answer": ...}``: the answer is computed from the input (navigate
  walks are simulated; "How many" sums the quantities; else "A"), and the
  prompt's instruction has a "skill" (a hash) deciding, per input, whether
  the answer is given right or flipped, so prompts score differently;
* a **review** prompt (its last lines ``Review: …`` and ``Sentiment:``, the
  promptfoo example suite's shape) gets a sentiment label, right or flipped by
  the instruction's skill, written as one word, a capitalised word with a full
  stop, or a sentence (also per instruction and review);
* every other prompt is an **optimizer** prompt and gets three tagged spans,
  ``<START>…<END>`` (or ``<INS>…</INS>`` when the prompt asks for those),
  distinct per request and per sample seed; as many as the request asks for
  ("write 2 …", "Write a …"), three when it names no number.

How they travel (OpenAI and Anthropic bodies, errors) is ``fake_http``.
"""
from __future__ import annotations

import hashlib
import json
import re

from reflectloop.core.evaluation.prompting import ANSWER_FORMAT

SPANS = 3  # tagged spans per optimizer answer that asks for no number: enough for every method's parse
# "write 2 different …", "Write a variation", "Give 3 reasons": the spans a request asks for,
# which a compliant model writes (``--protocol study`` keeps every span it gets).
_ASKED = re.compile(r"\b(?:write|give) (\d+|an?|one)\b", re.I)


def unit(*parts: object) -> float:
    """A stable number in [0, 1) from ``parts``."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()
    return int(digest[:13], 16) / 16**13


def short(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:8]


_TAKE = re.compile(r"Take (\d+) steps?(?: (forward|backward|left|right))?")
_TURN = re.compile(r"Turn (left|right|around)")
_FIXED = {"forward": 1j, "backward": -1j, "left": -1 + 0j, "right": 1 + 0j}
_TURNS = {"left": 1j, "right": -1j, "around": -1 + 0j}
_NUMBERS = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_NUMBERS.update({"a": 1, "an": 1})


def solve(text: str) -> str:
    """An answer computed from the input alone."""
    if _TAKE.search(text):
        position, heading = 0j, 1j
        for match in re.finditer(f"{_TAKE.pattern}|{_TURN.pattern}", text):
            steps, fixed, turn = match.groups()
            if turn:
                heading *= _TURNS[turn]
            else:
                position += int(steps) * (_FIXED[fixed] if fixed else heading)
        return "A" if position == 0 else "B"
    if "How many" in text:
        items = re.split(r",\s*(?:and\s+)?|\s+and\s+", text.split("How many")[0].removeprefix("I have "))
        total = 0
        for item in items:
            first = item.strip().split(" ", 1)[0].lower()
            total += int(first) if first.isdigit() else _NUMBERS.get(first, 0)
        return str(total)
    return "A"


def _wrong(answer: str) -> str:
    if answer in ("A", "B"):
        return "B" if answer == "A" else "A"
    return str(int(answer) + 1) if answer.isdigit() else "none"


def evaluation_answer(instruction: str, example_input: str) -> str:
    """The target's answer: right or flipped by the instruction's skill."""
    skill = 0.2 + 0.6 * unit("skill", instruction)
    right = solve(example_input)
    answer = right if unit("example", instruction, example_input) < skill else _wrong(right)
    return f"Working through the input step by step.\n{json.dumps({'answer': answer})}"


def optimizer_answer(prompt: str, seed: object) -> str:
    opener, closer = ("<INS>", "</INS>") if "<INS>" in prompt else ("<START>", "<END>")
    lowered = prompt.lower()
    reflective = ("reason" in lowered or "analy" in lowered or "suggest" in lowered) and "improved" not in lowered
    asked = _ASKED.findall(prompt)
    count = SPANS if not asked else int(asked[-1]) if asked[-1].isdigit() else 1
    spans = []
    for i in range(count):
        tag = short(prompt, seed, i)
        if reflective:
            text = f"The instruction does not say how to handle case {tag}; the model guessed."
        else:
            text = (f"Variant {tag}: read the input carefully, work through it step by step, "
                    'and give the final answer as JSON like {"answer": "..."}.')
        spans.append(f"{opener}{text}{closer}")
    return "\n".join(spans)


def is_evaluation(prompt: str) -> bool:
    return prompt.rstrip().endswith(ANSWER_FORMAT)


_REVIEW = re.compile(r"\n\nReview: (.+)\nSentiment:\Z", re.DOTALL)
_PRAISE = ("love", "great", "excellent", "bright", "comfortable", "worth", "solid", "quick")


def review_answer(instruction: str, review: str) -> str:
    right = "positive" if any(word in review.lower() for word in _PRAISE) else "negative"
    wrong = "negative" if right == "positive" else "positive"
    label = right if unit("example", instruction, review) < 0.2 + 0.6 * unit("skill", instruction) else wrong
    styles = (label, f"{label.capitalize()}.", f"I think it is {label}.")
    return styles[int(unit("style", instruction, review) * len(styles))]


def answer_text(prompt: str, seed: object = None) -> str:
    """What the fake model says to ``prompt`` (the last user message)."""
    body = prompt.rstrip()
    if is_evaluation(body):
        instruction, _, rest = body.rpartition("\n\nInput:\n")
        return evaluation_answer(instruction, rest[: -len(ANSWER_FORMAT)].strip())
    review = _REVIEW.search(body)
    if review:
        return review_answer(body[: review.start()], review.group(1))
    return optimizer_answer(prompt, seed)
