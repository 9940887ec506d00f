"""``reflectloop run --protocol study`` against the fake endpoint, request by
request next to the requests of the study's released code recorded in
../shared/fidelity (read at test time), on paper:navigate with the
recordings' settings: beam 5, the task's 10 initial prompts, dev 50, two
steps, the target and optimizer models of the recordings.

Compared on structure, for APO, APE, OPRO, APO-Sum, PromptAgent and ABO:
roles and system message, model, sampling parameters (temperature, top_p,
no max_tokens), how many examples each request shows and which of their
fields (input, gold as an answer object or plain, the target's output,
PromptAgent's prediction, OPRO's ``<INS>`` marks, numbered headers), OPRO's
trajectory, and how each recorded reply is parsed; the target requests byte
for byte (model and messages).  What this file keeps of the study is the
structural facts in ``FIELDS``, never its text.  ``n`` and the requests per
parent are the sampling tests' (they depend on ``--sampling``)."""
from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest

from reflectloop.core.evaluation.prompting import DEMONSTRATION_CAUTION
from reflectloop.core.methods.one_call import split_output
from reflectloop.core.methods.parsing import parse_study
from reflectloop.core.methods.promptagent import template_prediction
from reflectloop.sessions.store import SessionStore
from reflectloop.tui.cli import main
from tests.support.fake_answers import answer_text
from tests.support.fake_server import FakeServer
from tests.test_study_optimizer import FIDELITY, HEADER, KINDS, reply

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "paper"
TARGET_MODEL, OPTIMIZER_MODEL = "openai:gpt-35-turbo-1106", "openai:gpt-4"  # the recordings' models
SETTINGS = ["--task", "paper:navigate", "--protocol", "study", "--initial-prompts", "task", "--steps", "2",
            "--beam", "5", "--dev-size", "50", "--test-size", "2", "--no-cache", "--json"]
METHODS = ["abo", "ape", "apo", "apo-sum", "opro", "promptagent"]  # the study's released six, as recorded

# What each optimizer request shows of each example, read from the study's
# templates and recordings: "input", the gold as an answer "object" or
# "plain", the target's "output", OPRO's "<INS>" mark before the input.
# (examples shown, fields)
FIELDS: dict[str, tuple[int, frozenset[str]]] = {
    "reflect": (4, frozenset({"input", "object", "output"})),
    "refine": (4, frozenset({"input", "object"})),
    "opro": (4, frozenset({"input", "object", "<INS>"})),
    "sum": (4, frozenset({"input", "object", "output"})),
    "pa_feedback": (4, frozenset({"input", "plain", "output"})),
    "pa_update": (4, frozenset({"input", "plain", "output"})),
    "abo_reflect": (2, frozenset({"input", "object", "output"})),
    "abo_demo": (1, frozenset({"input"})),  # one ini example, no gold, no output
    "ape": (0, frozenset()),
}


class Recording(FakeServer):
    """The fake endpoint, keeping every request body as sent."""

    def __init__(self, **options):
        super().__init__(**options)
        self.bodies: list[dict] = []

    def _decide(self, api, body, prompt):
        with self._lock:
            self.bodies.append(body)
        return super()._decide(api, body, prompt)


def need_recordings() -> None:
    if not FIDELITY.is_dir() or not DATA.is_dir():
        pytest.skip(f"the study's recordings ({FIDELITY}) or the paper's data ({DATA}) are not here")


@cache
def recording(method: str) -> list[dict]:
    path = FIDELITY / f"study-navigate-{method}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@cache
def split(folder: str) -> dict[str, dict]:
    return json.loads((DATA / folder / "navigate.json").read_text())["examples"]


def user(body: dict) -> str:
    return body["messages"][-1]["content"]


def is_target(body: dict) -> bool:
    return user(body).endswith("\n## Output\n")


@cache
def run(method: str, tmp: Path) -> tuple[list[dict], Path]:
    """The run's request bodies and its session (one run per method per test session)."""
    session = tmp / f"{method}.session"
    optimizer = TARGET_MODEL if method == "ape" else OPTIMIZER_MODEL  # the study's APE asks GPT-3.5
    with Recording() as server:
        url = server.openai_url
        code = main([str(a) for a in ("run", "--method", method, "--data-dir", DATA, *SETTINGS, "--session", session,
                                      "--target", TARGET_MODEL, "--target-base-url", url,
                                      "--optimizer", optimizer, "--optimizer-base-url", url)])
        assert code == 0, f"reflectloop run --method {method} exited {code}"
        return list(server.bodies), session


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    need_recordings()
    folder = tmp_path_factory.mktemp("study-requests")
    return lambda method: run(method, folder)


def ours_of(bodies: list[dict], kind: str) -> list[dict]:
    phrase = KINDS[kind][1]
    return [b for b in bodies if not is_target(b) and phrase in user(b)]


def recorded_of(method: str, kind: str) -> list[dict]:
    return [r for r in recording(method) if r["meta"]["kind"] == kind]


def shown(text: str, folder: str) -> list[str]:
    """Ids of the examples of ``folder`` whose input the request shows, in order of appearance."""
    found = [(text.find(ex["input"]), key) for key, ex in split(folder).items() if ex["input"] in text]
    # An input inside a longer one is not shown by itself.
    inputs = {key: split(folder)[key]["input"] for _, key in found}
    kept = [(at, key) for at, key in found
            if not any(key != other and inputs[key] in inputs[other] for other in inputs)]
    return [key for _, key in sorted(kept)]


def segments(text: str, keys: list[str], folder: str) -> dict[str, str]:
    """What follows each shown example's input up to the next one's (the last
    one runs on into the rest of the request, so only those before it are read)."""
    starts = [text.find(split(folder)[k]["input"]) for k in keys]
    return {k: text[start + len(split(folder)[k]["input"]): end]
            for k, start, end in zip(keys[:-1], starts[:-1], starts[1:])}


def gold_fields(segment: str, gold: str) -> set[str]:
    """How the gold is shown: alone at the end of a line, as it is or as an answer object."""
    if re.search(r'(?:^|: )\{\s*"answer"\s*:\s*"%s"\s*\}$' % re.escape(gold), segment, re.M):
        return {"object"}
    if re.search(r"(?:^|: )%s$" % re.escape(gold), segment, re.M):
        return {"plain"}
    return set()


def shows_output(segment: str, gold: str) -> bool:
    """Whether an example's block (up to the blank line before the next)
    shows more than a label next to its gold line: the target's output."""
    lines = [line for line in segment.split("\n\n")[0].split("\n") if line.strip()]
    at = [i for i, line in enumerate(lines) if gold_fields(line, gold)]
    return bool(at) and max(at[-1], len(lines) - at[-1] - 1) >= 2


def fields(text: str, keys: list[str], folder: str, outputs: dict[str, set[str]] | None = None) -> set[str]:
    """The fields the shown examples have (those before the last one): input,
    gold and ``<INS>`` on every one; the output on any one (an output can be
    empty).  ``outputs``: the target's outputs by key, which a shown output
    must be one of."""
    found, output = [], False
    for key, segment in segments(text, keys, folder).items():
        ex = split(folder)[key]
        have = {"input"} | gold_fields(segment, ex["output"][0])
        if f"<INS>{ex['input']}" in text:
            have.add("<INS>")
        if shows_output(segment, ex["output"][0]):
            output = True
            assert outputs is None or any(o.strip() and o.strip() in segment for o in outputs.get(key, ())), key
        found.append(have)
    have = set.intersection(*found) if found else ({"input"} if keys else set())
    return have | {"output"} if output else have


def our_outputs(session: Path) -> dict[str, set[str]]:
    """Every step-0 dev output by dev key (the parents' outputs the errors show)."""
    outputs: dict[str, set[str]] = {}
    with SessionStore.open(session, read_only=True) as store:
        for _, ev in store.evaluations(0):
            for r in ev.results:
                if r.example_id.startswith("induce/"):
                    outputs.setdefault(r.example_id.split("/", 1)[1], set()).add(r.output)
    return outputs


def kinds_of(method: str) -> list[str]:
    return [k for k, (m, _) in KINDS.items() if m == method and k in FIELDS]


# ----------------------------------------------------------- the requests
@pytest.mark.parametrize("method", METHODS)
def test_optimizer_requests_have_the_recorded_roles_model_and_sampling(method, runs):
    bodies, _ = runs(method)
    for kind in kinds_of(method):
        recorded, ours = recorded_of(method, kind), ours_of(bodies, kind)
        assert recorded and ours, f"{kind}: recorded {len(recorded)}, ours {len(ours)}"
        for facts in ({tuple(m["role"] for m in b["messages"]) for b in (r["body"] for r in recorded)},
                      {b["messages"][0]["content"] for b in (r["body"] for r in recorded)}):
            assert len(facts) == 1, f"{kind}: the recording varies: {facts}"
        for b in ours:
            r = recorded[0]["body"]
            assert [m["role"] for m in b["messages"]] == [m["role"] for m in r["messages"]], kind
            assert b["messages"][0]["content"] == r["messages"][0]["content"], kind
            assert (b["model"], b["temperature"], b["top_p"]) == (r["model"], r["temperature"], r["top_p"]), kind
            assert "max_tokens" not in b and "max_tokens" not in r, kind


@pytest.mark.parametrize("method", METHODS)
def test_optimizer_requests_show_the_recorded_examples_and_fields(method, runs):
    bodies, session = runs(method)
    mine = our_outputs(session)
    for kind in kinds_of(method):
        count, wanted = FIELDS[kind]
        folder = "ini" if kind == "abo_demo" else "induce"
        for r in recorded_of(method, kind):
            text = user(r["body"])
            keys = shown(text, folder)
            meta = [r["meta"]["demo_input"].removeprefix("ini")] if kind == "abo_demo" else r["meta"].get("dev_shown", [])
            assert keys == sorted(meta, key=lambda k: text.find(split(folder)[k]["input"])), kind
            assert len(keys) == count, f"recorded {kind} shows {len(keys)}"
            have = fields(text, keys, folder)
            assert have == wanted if count > 1 else have >= {"input"} if count else not have, \
                f"recorded {kind}: {have} vs {wanted}"
            assert len(HEADER.findall(text)) == (count if count > 1 else 0), f"recorded {kind}: numbered headers"
        for b in ours_of(bodies, kind):
            text = user(b)
            keys = shown(text, folder)
            assert len(keys) == count, f"our {kind} shows {len(keys)}"
            have = fields(text, keys, folder, mine)
            assert have == wanted if count > 1 else have >= {"input"} if count else not have, \
                f"our {kind}: {have} vs {wanted}"
            assert len(HEADER.findall(text)) == (count if count > 1 else 0), f"our {kind}: numbered headers"


def test_opro_trajectory_has_the_recorded_layout_and_the_study_tie_order(runs):
    bodies, session = runs("opro")
    with SessionStore.open(session, read_only=True) as store:
        initial = [p.instruction for p in store.prompts().values() if p.step == 0]
        scores = {p.instruction: ev.score for _, ev in store.evaluations(0)
                  for p in [store.prompts()[ev.prompt_id]] if ev.split == "dev"}
    recorded = [user(r["body"]) for r in recorded_of("opro", "opro")]
    ours = [user(b) for b in ours_of(bodies, "opro")]
    for text in recorded + ours:
        entries = re.findall(r"^text: (.*)\nscore: (\d+)$", text, re.M)
        # Step 1: every step-0 prompt once; the recording's step 2: the top 20 of 30.
        assert len(entries) == (len(initial) if text in ours else len(entries)) and len(entries) in (len(initial), 20)
        assert [int(s) for _, s in entries] == sorted(int(s) for _, s in entries)  # ascending
    for b in ours_of(bodies, "opro"):
        entries = re.findall(r"^text: (.*)\nscore: (\d+)$", user(b), re.M)
        ranked = sorted(initial, key=lambda p: scores[p], reverse=True)  # stable: ties in evaluation order
        assert [t for t, _ in entries] == list(reversed(ranked))  # walked from the lowest rank up
        assert "\n\n\n\n" not in user(b)  # no run of separators after the last entry (the study's defect)


# ------------------------------------------------------- the target requests
@pytest.mark.parametrize("method", ["apo", "ape", "opro", "apo-sum", "promptagent"])
def test_target_requests_are_the_recorded_ones_byte_for_byte(method, runs):
    bodies, _ = runs(method)
    ours = {json.dumps([b["model"], b["messages"]]) for b in bodies if is_target(b)}
    recorded = [r["body"] for r in recording(method) if r["meta"]["kind"] == "target"]
    assert len(recorded) == 40
    missing = [b for b in recorded if json.dumps([b["model"], b["messages"]]) not in ours]
    assert not missing, f"{len(missing)} recorded target requests not sent, e.g. {missing[0]['messages'][-1]!r}"
    for b in bodies:
        if is_target(b):
            assert (b["temperature"], b["top_p"]) == (recorded[0]["temperature"], recorded[0]["top_p"])


def demonstration_block(text: str) -> tuple[str, str, str, str]:
    """(instruction, caution line, demonstration, the example's input block) of an ABO target request."""
    instruction, rest = text.split("\n\n#### Examples\n", 1)
    caution, rest = rest.split("\n\n", 1)
    demonstration, tail = rest.rsplit("\n\n## Input\n", 1)
    return instruction, caution, demonstration, "## Input\n" + tail


def test_abo_target_requests_are_the_recorded_ones_but_the_caution_and_the_demonstration(runs):
    """The composed prompt's caution is our own wording, and the demonstration
    is worked on our fixed example by our optimizer: put the recorded example
    and answer in place of ours, and the request is the recorded one, but for
    the newline the study leaves after the worked answer."""
    bodies, session = runs("abo")
    need_recordings()
    ours = {}
    for b in bodies:
        if is_target(b):
            instruction, caution, demonstration, example = demonstration_block(user(b))
            ours[(instruction, example)] = (b, caution, demonstration)
    demo = next(r for r in recording("abo") if r["meta"]["kind"] == "abo_demo")
    recorded_input = split("ini")[demo["meta"]["demo_input"].removeprefix("ini")]["input"]
    for r in (r["body"] for r in recording("abo") if r["meta"]["kind"] == "target"):
        instruction, caution, demonstration, example = demonstration_block(user(r))
        assert (instruction, example) in ours, f"no target request of the initial prompt on {example!r}"
        b, our_caution, our_demonstration = ours[(instruction, example)]
        assert (b["model"], b["messages"][:-1]) == (r["model"], r["messages"][:-1])
        assert our_caution == DEMONSTRATION_CAUTION and caution != our_caution  # ours, in one line as theirs
        asked = next(d for d in ours_of(bodies, "abo_demo") if instruction in user(d))
        our_input = split("ini")[shown(user(asked), "ini")[0]]["input"]
        our_answer = answer_text(user(asked), asked.get("seed")).strip()  # what the fake optimizer worked out
        layout = demonstration.replace(recorded_input, "<input>").replace(demo["answers"][0], "<answer>")
        assert our_demonstration.replace(our_input, "<input>").replace(our_answer, "<answer>") + "\n" == layout


# ----------------------------------------------------------- the replies
def spans(text: str, opener: str, closer: str) -> list[str]:
    return [s.strip() for s in re.findall(re.escape(opener) + "(.*?)" + re.escape(closer), text, re.S)]


@pytest.mark.parametrize("method", METHODS)
def test_recorded_replies_give_the_candidates_the_study_takes(method):
    """Every span of every recorded choice is a candidate (a choice without
    one, taken whole); the analyses of APO-Sum and ABO are their cards."""
    need_recordings()
    for r in recording(method):
        kind = r["meta"]["kind"]
        for answer in r["answers"]:
            if kind in ("refine", "pa_update"):
                assert [d.text for d in parse_study(reply(answer))] == spans(answer, "<START>", "<END>")
            elif kind == "opro":
                assert [d.text for d in parse_study(reply(answer), "INS")] == spans(answer, "<INS>", "</INS>")
            elif kind in ("sum", "abo_reflect"):
                analysis, revisions = split_output(answer, protocol="study")
                assert [d.text for d in revisions] == spans(answer, "<START>", "<END>")
                assert analysis.text == spans(answer, "<ANALYSIS>", "</ANALYSIS>")[0]
            elif kind == "ape":  # the study asks for no tags and takes each choice whole
                drafts = parse_study(reply(answer))
                assert [d.text for d in drafts] == [answer.strip()] and drafts[0].parse_error


def predictions(text: str, keys: list[str]) -> list[tuple[str, str]]:
    """(the label before it, the prediction) of each PromptAgent error, read from
    the layout both sides share: a line after the input, the output, the gold
    line, then the prediction up to the blank line before the next error."""
    shown_ = []
    for key, segment in segments(text, keys, "induce").items():
        gold = split("induce")[key]["output"][0]
        lines = segment.split("\n")
        g = max(i for i, line in enumerate(lines) if re.search(r"(?:^|: )%s$" % re.escape(gold), line))
        output, block = "\n".join(lines[2:g]), "\n".join(lines[g + 1:]).split("\n\n")[0]
        prediction = template_prediction(output)
        assert output.strip() and block.endswith(prediction), (block, prediction)
        shown_.append((block[: -len(prediction)], prediction))
    return shown_


@pytest.mark.parametrize("kind", ["pa_feedback", "pa_update"])
def test_promptagent_errors_show_the_prediction_the_study_template_extracts(kind, runs):
    """The recorded predictions were extracted by the study's own template from
    the recorded outputs: ours extracts each one, so the text before it is the
    same label every time (a prediction read otherwise would leave part of the
    output in front of it)."""
    recorded = [p for r in recorded_of("promptagent", kind)
                for p in predictions(user(r["body"]), shown(user(r["body"]), "induce"))]
    assert len({label for label, _ in recorded}) == 1, sorted({label for label, _ in recorded})
    # The recordings exercise more than the object case: a whole output, a non-string answer.
    assert any(p == "True" for _, p in recorded) and any("Answer:" in p for _, p in recorded)
    bodies, _ = runs("promptagent")
    ours = [p for b in ours_of(bodies, kind) for p in predictions(user(b), shown(user(b), "induce"))]
    assert ours and len({label for label, _ in ours}) == 1
