"""The reflection audit on hand-built sessions whose right answers are known.

``build_session`` writes a real session (``SessionStore``) with hand-made
prompts, evaluations, proposals and decisions:

* step 0: the root prompt R, right on 10 of 50 dev examples;
* step 1, parent R, errors dev/3 and dev/7: LLM feedback that quotes dev/7's
  input and LLM feedback unrelated to any error; a person's feedback; the
  LLM's refinement right on 20 of 50, the person's on 45 of 50 (a superset);
  a person's own step-by-step candidate with a demonstration;
* step 2, parent H1 (the person's refinement): LLM feedback identical to the
  unrelated one of step 1; a person's feedback; refinements right on 25 and
  26 of 50 (one example apart); a candidate whose outputs are H1's exactly.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
from pathlib import Path

import pytest

from reflectloop.core.analysis import (
    AuditData,
    TfIdf,
    audit,
    bootstrap_ci,
    compare_outcomes,
    following,
    follows_steps,
    ground,
    grounding,
    human_vs_llm,
    mcnemar_exact,
    numbered_steps,
    quantiles,
    render_text,
    repetition,
    session_tables,
    text_histogram,
    tfidf_cosine,
    tokens,
)
from reflectloop.core.metrics.task import EXACT_MATCH
from reflectloop.core.types import Decision, ErrorCase, Evaluation, ExampleResult, Prompt, Proposal, StepRecord
from reflectloop.sessions.audit_data import load, load_export, load_session
from reflectloop.sessions.store import SessionStore
from tests.llama_server import llama_server  # noqa: F401  (the fixture)

N = 50
ANIMALS = "cats dogs owls foxes bears wolves hares moles crows frogs".split()
PLACES = "barn river meadow cellar tower orchard harbor quarry chapel bakery".split()
ROOT = "s0/task/candidate/0"
L1, H1 = f"s1/{ROOT}/candidate/0", f"s1/{ROOT}/candidate/hf0"
OWN1 = f"s1/{ROOT}/candidate/h0"
L2, H2 = f"s2/{H1}/candidate/0", f"s2/{H1}/candidate/hf0"
SAME2 = f"s2/{H1}/candidate/h0"
UNRELATED = "The instruction should be more specific about the expected output format."
STEPWISE = "Step 1: find the animals.\nStep 2: find the place.\nStep 3: count them."


def question(i: int) -> str:
    return f"Question {i}: how many {ANIMALS[i % 10]} sleep in the {PLACES[i // 10 % 10]} at dawn?"


def gold(i: int) -> str:
    return str(i % 7 + 1)


def results(right: set[int], *, stepwise: set[int] = frozenset(), tag: str = "") -> tuple[ExampleResult, ...]:
    out = []
    for i in range(N):
        answer = gold(i) if i in right else "0"
        text = f'{{"answer": "{answer}"}}'
        if i in stepwise:
            text = f"Step 1: animals{tag}.\nStep 2: place.\nStep 3: count.\n{text}"
        out.append(ExampleResult(f"dev/{i}", text, answer, i in right, True))
    return tuple(out)


def case(i: int, right: set[int]) -> ErrorCase:
    r = results(right)[i]
    return ErrorCase(f"dev/{i}", question(i), (gold(i),), r.output, r.answer)


ROOT_RIGHT = set(range(10))
L1_RIGHT = set(range(20))
H1_RIGHT = set(range(45))  # every example L1 gets right, and 25 more
L2_RIGHT = set(range(25))
H2_RIGHT = set(range(26))  # one example more than L2
OWN1_RIGHT = set(range(5))


def proposal(pid, step, kind, parent, text, errors, author="llm"):
    return Proposal(pid, step, kind, parent, text, errors, raw=text, author=author)


def build_records():
    e1 = (case(3, ROOT_RIGHT), case(7, ROOT_RIGHT))
    e2 = (case(45, H1_RIGHT), case(48, H1_RIGHT))
    prompts = [
        Prompt(ROOT, "Answer the question.", step=0),
        Prompt(L1, "Answer the question carefully.", None, ROOT, 1, "llm", (f"s1/{ROOT}/feedback/0", f"s1/{ROOT}/feedback/1")),
        Prompt(H1, "Count each animal exactly.", None, ROOT, 1, "llm", (f"s1/{ROOT}/feedback/h0",)),
        Prompt(OWN1, STEPWISE, "Input: ...\nStep 1: cats\nStep 2: barn\nStep 3: 2", ROOT, 1, "human"),
        Prompt(L2, "Count each animal exactly, please.", None, H1, 2, "llm", (f"s2/{H1}/feedback/0",)),
        Prompt(H2, "Count each animal exactly, twice.", None, H1, 2, "llm", (f"s2/{H1}/feedback/h0",)),
        Prompt(SAME2, "Count each animal exactly!", None, H1, 2, "human"),
    ]
    evals = [
        (0, Evaluation(ROOT, "dev", results(ROOT_RIGHT))),
        (1, Evaluation(L1, "dev", results(L1_RIGHT))),
        (1, Evaluation(H1, "dev", results(H1_RIGHT))),
        (1, Evaluation(OWN1, "dev", results(OWN1_RIGHT, stepwise=set(range(40))))),
        (2, Evaluation(L2, "dev", results(L2_RIGHT))),
        (2, Evaluation(H2, "dev", results(H2_RIGHT))),
        (2, Evaluation(SAME2, "dev", results(H1_RIGHT))),
        (0, Evaluation(ROOT, "test", results(ROOT_RIGHT))),
        (1, Evaluation(H1, "test", results(H1_RIGHT))),
        (2, Evaluation(H1, "test", results(H1_RIGHT))),
    ]
    proposals = [
        proposal(ROOT, 0, "candidate", "task", "Answer the question.", ()),
        proposal(f"s1/{ROOT}/feedback/0", 1, "feedback", ROOT,
                 f"The model got '{question(7)}' wrong: it lost track of the wolves in the tower.", e1),
        proposal(f"s1/{ROOT}/feedback/1", 1, "feedback", ROOT, UNRELATED, e1),
        proposal(f"s1/{ROOT}/feedback/h0", 1, "feedback", ROOT, "Count the animals one by one.", e1, "human"),
        proposal(L1, 1, "candidate", ROOT, "Answer the question carefully.", e1),
        proposal(f"s2/{H1}/feedback/0", 2, "feedback", H1, UNRELATED, e2),
        proposal(f"s2/{H1}/feedback/h0", 2, "feedback", H1, "Do not skip the last animal.", e2, "human"),
    ]
    decisions = [Decision(p.id, "accept", by="human") for p in proposals if p.author == "llm"]
    decisions += [Decision(p.id, "add", p.text, by="human") for p in proposals if p.author == "human"]
    steps = [
        StepRecord(0, (ROOT,), {ROOT: 0.2}, ROOT, 0.2, 0.2, 100, 5),
        StepRecord(1, (H1,), {ROOT: 0.2, L1: 0.4, H1: 0.9, OWN1: 0.1}, H1, 0.9, 0.9, 100, 5),
        StepRecord(2, (H1,), {H1: 0.9, L2: 0.5, H2: 0.52, SAME2: 0.9}, H1, 0.9, 0.9, 100, 5),
    ]
    return prompts, evals, proposals, decisions, steps


def build_session(path: Path, *, config: dict | None = None) -> Path:
    prompts, evals, proposals, decisions, steps = build_records()
    config = config or {"task": "hand:built", "method": "apo"}
    with SessionStore.create(path, config) as store:
        for p in prompts:
            store.add_prompt(p)
        for step, ev in evals:
            store.add_evaluation(step, ev)
        for p in proposals:
            store.add_proposal(p)
        for d in decisions:
            store.add_decision(d)
        for s in steps:
            store.add_step(s)
    return path


@pytest.fixture
def session(tmp_path) -> Path:
    return build_session(tmp_path / "hand.session")


@pytest.fixture
def data(session) -> AuditData:
    return load_session(session)


# ---------------------------------------------------------------- text
def test_tokens_drop_stop_words_and_keep_numbers():
    assert tokens("The model's answer is 12, not THE 13!") == ["model's", "answer", "12", "13"]
    assert "the" in tokens("the cat", keep_stop_words=True)


def test_tfidf_identical_texts_are_1_and_disjoint_are_0():
    assert tfidf_cosine(UNRELATED, UNRELATED) == pytest.approx(1.0)
    assert tfidf_cosine("red apples", "blue whales") == 0.0
    assert tfidf_cosine("", "anything") == 0.0


def test_tfidf_matches_a_hand_computation():
    corpus = ["cat dog", "cat fish", "bird"]
    model = TfIdf(corpus)
    idf_cat = math.log(4 / 3) + 1  # smoothed: ln((1+N)/(1+df)) + 1, N = 3, df = 2
    idf_dog = math.log(4 / 2) + 1
    idf_fish = idf_dog
    expected = idf_cat**2 / (math.hypot(idf_cat, idf_dog) * math.hypot(idf_cat, idf_fish))
    assert model.cosine("cat dog", "cat fish") == pytest.approx(expected)
    assert model.idf("cat") == pytest.approx(idf_cat)


# --------------------------------------------------------------- stats
@pytest.mark.parametrize(
    "b, c, p",
    [
        (0, 0, 1.0),
        (0, 1, 1.0),
        (1, 9, 22 / 1024),  # 2 * (C(10,0) + C(10,1)) / 2^10
        (3, 7, 352 / 1024),  # 2 * (1 + 10 + 45 + 120) / 2^10
        (5, 5, 1.0),
        (0, 25, 2 / 2**25),
        (2, 12, 2 * (1 + 14 + 91) / 2**14),
    ],
)
def test_mcnemar_exact_known_values(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p, rel=1e-12)
    assert mcnemar_exact(c, b) == pytest.approx(p, rel=1e-12)


def test_bootstrap_is_seeded_and_matches_the_normal_approximation():
    diffs = [1] * 25 + [0] * 25  # mean 0.5, sd of the mean sqrt(.25/50) = 0.0707
    lo, hi = bootstrap_ci(diffs, resamples=2000, seed=7)
    assert (lo, hi) == bootstrap_ci(diffs, resamples=2000, seed=7)
    assert lo == pytest.approx(0.5 - 1.96 * 0.0707, abs=0.03)
    assert hi == pytest.approx(0.5 + 1.96 * 0.0707, abs=0.03)
    assert bootstrap_ci([1, 1, 1]) == (1.0, 1.0)  # no variation, no width


def test_quantiles_and_histogram():
    assert quantiles([4, 1, 3, 2]) == [1, 1.75, 2.5, 3.25, 4]
    lines = text_histogram([0.05, 0.05, 0.95, 1.0], width=4).splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("[0.0,0.1)") and lines[0].endswith(" 2") and "####" in lines[0]
    assert lines[-1].startswith("[0.9,1.0]") and lines[-1].endswith(" 2")


def test_a_large_paired_win_is_significant_and_one_example_is_not():
    big = compare_outcomes([(i < 20, i < 45) for i in range(N)])
    assert (big.a_correct, big.b_correct, big.b_only, big.a_only) == (20, 45, 25, 0)
    assert big.p == pytest.approx(2 / 2**25) and big.verdict == "win" and big.significant
    assert big.ci_low > 0.3 and big.ci_high <= 0.7
    small = compare_outcomes([(i < 25, i < 26) for i in range(N)])
    assert small.p == 1.0 and small.verdict == "tie" and small.raw == "better" and not small.significant
    assert small.ci_low <= 0 <= small.ci_high
    lost = compare_outcomes([(i < 45, i < 20) for i in range(N)])
    assert lost.verdict == "loss"


# ------------------------------------------------------ loading sessions
def test_session_loads_into_audit_data(data):
    assert data.task == "hand:built" and data.method == "apo" and data.source == "session"
    assert len(data.prompts) == 7 and set(data.dev) >= {ROOT, L1, H1, L2, H2}
    assert [s.step for s in data.steps] == [0, 1, 2]
    authors = sorted(f.author for f in data.feedback())
    assert authors == ["human", "human", "llm", "llm", "llm"]


# ---------------------------------------------------------- repetition
def test_identical_feedback_on_different_error_sets_has_similarity_1(data):
    rep = repetition(data)
    assert rep.n_items == 3 and rep.n_sets == 2
    values = rep.items_across_sets.values
    assert len(values) == 2  # step 2's item against each of step 1's two
    assert max(values) == pytest.approx(1.0)  # the identical texts
    assert rep.near_duplicates == pytest.approx(2 / 3)  # both copies, not the quoting one
    assert rep.sets_across_steps.n == 1 and rep.sets_across_parents.n == 0


# ----------------------------------------------------------- grounding
def test_feedback_quoting_an_error_is_grounded_and_unrelated_is_not(data):
    g = {i.feedback_id: i for i in grounding(data).items}
    quoting = g[f"s1/{ROOT}/feedback/0"]
    assert quoting.refers_ids == ("dev/7",) and quoting.grounded
    assert not g[f"s1/{ROOT}/feedback/1"].grounded
    assert not g[f"s2/{H1}/feedback/0"].grounded
    assert grounding(data).ungrounded_share("llm") == pytest.approx(2 / 3)


def test_grounding_by_number_and_by_output():
    errors = (
        ErrorCase("a", "Is the lantern brighter than the candle?", ("No",), '{"answer": "Yes"}', "Yes"),
        ErrorCase("b", "Is the glacier colder than the desert?", ("Yes",), "Perhaps zebras migrate", None),
    )
    assert ground("In Example 2 the model answered off topic.", errors)[0] == (1,)
    assert ground("The second example shows it.", errors)[0] == (1,)
    assert ground("It rambled that perhaps zebras migrate.", errors)[0] == (1,)
    assert ground("It compared the lantern and the candle the wrong way round.", errors)[0] == (0,)
    assert ground("Be more careful.", errors)[0] == ()
    # Words of the instruction being reflected on are not evidence.
    assert ground("Compare brightness of the lantern.", errors, instruction="Compare brightness of the lantern")[0] == ()


# -------------------------------------------------------- human vs LLM
def test_human_refinement_45_vs_20_is_a_significant_win_and_1_example_is_a_tie(data):
    h = human_vs_llm(data)
    rows = {r.step: r for r in h.rows}
    assert set(rows) == {1, 2}
    first = rows[1].comparison
    assert (rows[1].human_best, rows[1].llm_best) == (H1, L1)
    assert (first.a_correct, first.b_correct, first.n) == (20, 45, 50)
    assert first.verdict == "win" and first.p < 1e-6
    second = rows[2].comparison
    assert (second.a_correct, second.b_correct) == (25, 26)
    assert second.verdict == "tie" and second.p == 1.0
    assert h.counts() == {"win": 1, "tie": 1, "loss": 0}
    assert h.raw_counts() == {"better": 2, "equal": 0, "worse": 0}
    assert h.mean_diff == pytest.approx((0.5 + 0.02) / 2)
    assert 0.0 <= rows[1].agreement < 0.5  # different wording


# ------------------------------------------------- instruction following
def test_step_markers_and_numbered_steps():
    assert numbered_steps(STEPWISE) == 3
    assert numbered_steps("1. read\n2) count\n3: answer") == 3
    assert numbered_steps("Answer in one word.") == 0
    assert follows_steps("Step 1: a\nStep 2: b\nStep 3: c", 3)
    assert not follows_steps("Step 2: b\nStep 1: a\nStep 3: c", 3)
    assert not follows_steps("Step 1: a\nStep 3: c", 3)
    assert follows_steps("1. a\n2. b\n3. c\n", 3)


def test_format_compliance_step_adherence_and_unchanged_revisions(data):
    f = following(data)
    by = {p.prompt_id: p for p in f.prompts}
    assert by[OWN1].stepwise and by[OWN1].steps == 3
    assert by[OWN1].step_adherence == pytest.approx(40 / 50)
    assert by[ROOT].step_adherence is None and not by[ROOT].stepwise
    assert all(p.format_rate == 1.0 for p in f.prompts)
    rev = {r.child_id: r for r in f.revisions}
    assert rev[SAME2].unchanged and rev[SAME2].same_outputs == 1.0 and rev[SAME2].comparison.verdict == "tie"
    assert rev[H1].comparison.verdict == "win" and not rev[H1].unchanged
    assert rev[OWN1].comparison.diff == pytest.approx(-0.1)
    assert rev[OWN1].same_answers == pytest.approx(45 / 50)  # 5 right in both, 40 wrong "0" in both


# ------------------------------------------------------------- tables
def test_tables_say_what_is_significant(data):
    a = audit(data)
    text = render_text(session_tables(a))
    assert "win (p<0.05)" in text and "tie (n.s.)" in text
    assert "McNemar" in text and "bootstrap" in text
    human = next(t for t in session_tables(a) if t.key == "human_llm")
    assert [r[11] for r in human.rows] == ["win (p<0.05)", "tie (n.s.)"]
    assert a.headline()["human_vs_llm"] == "1/1/0"


# -------------------------------------------------------------- export
def export_records(session: Path) -> list[dict]:
    """The session as annotation records, one per reviewed proposal."""
    d = load_session(session)
    out = []
    for p in d.proposals:
        if p.kind != "feedback":
            continue
        dec = d.decisions.get(p.id)
        downstream = [
            {"prompt_id": c.id, "instruction": c.instruction, "feedback_ids": list(c.feedback_ids),
             "dev_results": [r.__dict__ for r in d.dev[c.id].results]}
            for c in d.prompts.values() if p.id in c.feedback_ids
        ]
        out.append({
            "session": session.name, "task": d.task, "method": d.method, "proposal_id": p.id, "step": p.step,
            "parent_id": p.parent_id, "kind": p.kind, "author": p.author, "llm_text": p.text if p.author == "llm" else None,
            "human_text": p.text if p.author == "human" else None, "decision": dec.kind if dec else None,
            "errors": [{"example_id": e.example_id, "input": e.input, "gold": list(e.gold), "output": e.output,
                        "answer": e.answer} for e in p.errors],
            "parent_instruction": d.prompts[p.parent_id].instruction, "downstream": downstream,
        })
    return out


def test_human_vs_llm_runs_on_an_exported_set(session, tmp_path):
    path = tmp_path / "annotations.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in export_records(session)) + "\n")
    [data] = load(path)
    assert data.source == "export" and data.name == session.name
    h = human_vs_llm(data)
    assert h.counts() == {"win": 1, "tie": 1, "loss": 0}
    g = {i.feedback_id: i for i in grounding(data).items}
    assert g[f"s1/{ROOT}/feedback/0"].refers_ids == ("dev/7",)
    assert repetition(data).near_duplicates == pytest.approx(2 / 3)


def test_export_with_scores_only_says_what_is_missing(tmp_path):
    record = {"session": "x", "step": 1, "kind": "candidate", "proposal_id": "s1/r/candidate/0", "parent_id": "r",
              "text": "Do it.", "decision": "accept", "dev_score": 0.5}
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(record) + "\n")
    [data] = load_export(path)
    assert any("per-example dev results" in n for n in data.notes)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"step": 1}\n')
    with pytest.raises(ValueError, match="bad.jsonl:line 1"):
        load_export(bad)


# ------------------------------------------------------ command line
def cli(argv: list[str]) -> int:
    from reflectloop.tui.subcommands import audit as audit_cmd, report as report_cmd

    parser = argparse.ArgumentParser(prog="reflectloop")
    sub = parser.add_subparsers(dest="command")
    audit_cmd.register(sub)
    report_cmd.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def test_audit_command_prints_tables_and_json(session, capsys):
    assert cli(["audit", str(session)]) == 0
    out = capsys.readouterr().out
    assert "Human vs LLM reflection" in out and "win (p<0.05)" in out and "Repetitiveness of feedback" in out
    assert cli(["audit", str(session), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    [s] = doc["sessions"]
    assert s["human_vs_llm"]["significant"] == {"win": 1, "tie": 1, "loss": 0}
    assert s["headline"]["ungrounded_llm_feedback"] == pytest.approx(2 / 3)
    assert s["repetition"]["items_across_sets"]["quantiles"]["max"] == pytest.approx(1.0)
    assert cli(["audit", str(session), "--section", "human_llm"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Human vs LLM reflection") and "Grounding" not in out


def test_audit_of_a_folder_compares_methods(tmp_path, capsys):
    folder = tmp_path / "compare"
    build_session(folder / "apo.session", config={"task": "hand:built", "method": "apo"})
    build_session(folder / "abo.session", config={"task": "hand:built", "method": "abo"})
    assert cli(["audit", str(folder), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [s["method"] for s in doc["sessions"]] == ["abo", "apo"]
    [m] = doc["methods"]
    assert m["split"] == "test" and m["comparison"]["verdict"] == "tie" and m["comparison"]["p"] == 1.0


def test_audit_refuses_what_is_not_a_session(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a session"):
        cli(["audit", str(tmp_path)])


# ---------------------------------------------------------- embeddings
# A real llama-cpp-python server embedding with SmolLM2 (tests/llama_server.py).
# What the tiny model's vectors mean is not asserted: only what the code
# guarantees (identical texts are similar 1, every call recorded and cached).
# The server embeds slowly, so these tests share one on-disk cache.
SECRET = "sk-test-SECRET"


@pytest.fixture
def embedder(llama_server, isolated_home, monkeypatch):
    """An embedding backend on the real server through the on-disk response
    cache, with a key in the environment that must never be written."""
    from reflectloop.core.analysis import make_similarity

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    records: list = []
    backend = make_similarity("smollm2", llama_server.base_url, on_call=records.append)
    yield backend, records
    backend.close()
    assert all(SECRET.encode() not in f.read_bytes() for f in (isolated_home / "cache").iterdir())


@pytest.mark.shared_model_cache
def test_embeddings_backend_through_core_llm(data, embedder):
    backend, records = embedder
    m = backend.matrix(["Count the apples.", "Count the apples.", "The sky is blue at noon."])
    assert m[0][1] == pytest.approx(1.0) and m[0][0] == 1.0 and m[0][2] == m[2][0]
    assert all(0.0 <= v <= 1.0 for row in m for v in row)
    [sent] = records  # texts no other test embeds: one call, the duplicate sent once
    assert [m.content for m in sent.messages] == ["Count the apples.", "The sky is blue at noon."]
    assert sent.purpose == "embed" and sent.model == "openai:smollm2" and not sent.cached
    assert not sent.usage.estimated  # the server reported its token count
    rep = repetition(data, backend=backend)
    assert rep.backend == "embeddings:openai:smollm2"
    # Step 2's LLM feedback is step 1's unrelated feedback word for word.
    assert max(rep.items_across_sets.values) == pytest.approx(1.0)
    assert all(r.purpose == "embed" and r.error is None and SECRET not in repr(r) for r in records)


@pytest.mark.shared_model_cache
def test_embeddings_are_cached_per_text_across_backends(data, embedder, llama_server):
    from reflectloop.core.analysis import make_similarity

    backend, records = embedder
    texts = [f.text for f in data.feedback("llm")]
    first = backend.matrix(texts)
    assert sum(len(r.messages) for r in records) == len(set(texts))  # each text sent or found once
    replayed: list = []
    again = make_similarity("openai:smollm2", llama_server.base_url, on_call=replayed.append)
    try:
        assert again.matrix(texts) == first
    finally:
        again.close()
    assert [r.cached for r in replayed] == [True] and again.llm.calls == 0


@pytest.mark.shared_model_cache
def test_control_embeds_from_inside_its_event_loop(data, embedder):
    backend, records = embedder
    result, _ = control_with(lambda text, params: f"<START>{UNRELATED}<END>", data, backend=backend)
    assert result.backend == "embeddings:openai:smollm2"
    # Step 2's recorded feedback is UNRELATED, which every re-ask returned.
    assert [s.similarity for s in result.samples if s.step == 2] == pytest.approx([1.0] * 4)
    assert records


@pytest.mark.shared_model_cache
def test_audit_command_with_embeddings_from_the_server(session, llama_server, isolated_home, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    assert cli(["audit", str(session), "--json", "--embeddings", "smollm2", "--embeddings-base-url", llama_server.base_url]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["similarity"] == "embeddings:openai:smollm2" and SECRET not in out
    assert all(SECRET.encode() not in f.read_bytes() for f in (isolated_home / "cache").iterdir())


def test_embedding_model_names_and_a_model_that_cannot_embed(monkeypatch):
    from reflectloop.core.analysis import embedding_spec, make_similarity
    from reflectloop.core.llm import LLMError

    # A bare name is a model of an OpenAI-compatible server, colons and all.
    assert embedding_spec("nomic-embed-text:latest") == "openai:nomic-embed-text:latest"
    assert embedding_spec("local:smollm2") == "local:smollm2"
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    with pytest.raises(LLMError, match="anthropic:claude-3-5-haiku cannot embed texts"):
        make_similarity("anthropic:claude-3-5-haiku")


def test_method_comparison_needs_the_same_split(tmp_path):
    from reflectloop.core.analysis import compare_methods

    a = load_session(build_session(tmp_path / "a.session", config={"task": "gen:navigate", "method": "apo", "seed": 0}))
    b = load_session(build_session(tmp_path / "b.session", config={"task": "gen:navigate", "method": "abo", "seed": 1}))
    c = load_session(build_session(tmp_path / "c.session", config={"task": "gen:navigate", "method": "ape", "seed": 0}))
    pairs = [(m.a_method, m.b_method) for m in compare_methods([a, b, c])]
    assert pairs == [("apo", "ape")]  # seed 1 draws other examples behind the same ids


def test_registered_through_the_real_command_line(session, capsys):
    from reflectloop.tui.cli import main

    assert main(["audit", str(session), "--section", "summary"]) == 0
    assert "Audit of hand.session" in capsys.readouterr().out
    assert main(["audit", str(session.parent / "missing")]) == 2
    assert "neither a session" in capsys.readouterr().err
    assert main(["audit", str(session), "--control", "--conditions", "same,bogus"]) == 2
    assert "unknown control condition" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--help"])
    assert exit_.value.code == 0 and "--repeats" in capsys.readouterr().out


# ------------------------------------------------------- control (scripted)
def hand_task():
    from reflectloop.core.types import Example, Task

    dev = tuple(Example(f"dev/{i}", question(i), (gold(i),)) for i in range(N))
    return Task("hand:built", "count animals", ini=dev[:5], dev=dev, test=(), scorer=EXACT_MATCH)


def control_with(answer, data, backend=None):
    from reflectloop.core.analysis import run_control
    from reflectloop.core.settings.config import RunConfig
    from reflectloop.core.methods import make_method
    from tests.scripted import scripted_llm

    task = hand_task()
    optimizer, provider = scripted_llm("fake:opt", answer, role="optimizer")
    method = make_method("apo", optimizer, task, RunConfig(method="apo"))
    return asyncio.run(run_control(data, task, method, max_sets=5, backend=backend)), provider


def test_control_of_an_optimizer_that_ignores_the_errors_is_insensitive(data):
    result, provider = control_with(lambda text, params: f"<START>{UNRELATED}<END>", data)
    assert len(provider.prompts) == 2 * 4  # two error sets, four conditions, one sample each
    assert all("Question" in p for p in provider.prompts)  # every re-ask showed an error set
    assert all(s.similarity == pytest.approx(1.0) for s in result.samples if s.step == 2)  # recorded: UNRELATED
    # Whatever the errors, the same text: as similar under other errors as under the same ones.
    assert result.same == pytest.approx(result.different) and result.insensitivity == pytest.approx(1.0)
    by = {(s.step, s.condition): s for s in result.samples}
    assert by[(1, "correct")].errors and all(int(e.split("/")[1]) in ROOT_RIGHT for e in by[(1, "correct")].errors)
    assert by[(1, "same")].overlap == 1.0 and by[(1, "other")].overlap == 0.0
    assert not set(by[(1, "other")].errors) & {"dev/3", "dev/7"}


def test_control_of_an_optimizer_that_follows_the_errors_is_sensitive(data):
    import re as _re

    def echo(text, params):  # reasons that name the inputs it was shown
        return "".join(f"<START>It failed on: {q}<END>" for q in _re.findall(r"Question \d+: [^\n]+", text))

    result, _ = control_with(echo, data)
    assert result.same > result.different
    assert result.insensitivity < 0.8
    same = [s for s in result.samples if s.condition == "same" and s.step == 1]  # its recorded feedback quotes dev/7
    assert same and same[0].similarity > 0.3
