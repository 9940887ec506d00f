"""How the optimizer's samples are drawn (``--sampling``) and ``n`` through
the model layer.

Under ``--protocol study --sampling released`` a parent's samples are the
``n`` choices of one request, as the study's released code asks them; the
requests and their ``n`` are checked against its recordings in
../shared/fidelity (read at test time: what this file keeps of them is the
structure — which of our purposes sends which recorded kind — never their
text).  The runs go through the real command line and the fake
OpenAI-compatible endpoint; the model layer is checked against the same
endpoint's OpenAI and Anthropic APIs and the embedded model."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from reflectloop.core.llm import LLM, MemoryCache, make_llm
from reflectloop.core.methods import StepContext, facts_of, make_method
from reflectloop.core.settings.config import RunConfig, from_dict, from_stored
from reflectloop.core.settings.estimate import OPTIMIZER_ANSWER, estimate_step
from reflectloop.core.types import CallRecord, Completion, Message, Params, Prompt
from reflectloop.sessions.store import SessionStore
from tests.llama_server import llama_server  # noqa: F401  (the fixture)
from tests.scripted import ScriptedProvider, toy_task
from tests.support.cli import cli, fake_flags
from tests.support.fake_server import FakeServer

FIDELITY = Path(__file__).resolve().parents[2] / "shared" / "fidelity"
SIZES = ["--dev-size", "4", "--test-size", "2"]
# Each recorded kind of optimizer request: the method and our call purpose that send it.
KINDS = {
    "reflect": ("apo", "reflect"), "refine": ("apo", "refine"), "ape": ("ape", "refine"), "opro": ("opro", "refine"),
    "sum": ("apo-sum", "reflect"), "pa_feedback": ("promptagent", "reflect"), "pa_update": ("promptagent", "refine"),
    "abo_reflect": ("abo", "reflect"), "abo_demo": ("abo", "demonstrate"),
}
# How each recording was run (its README): the beam (STORE_BATCH_SIZE; ABO's single initial
# prompt) and the steps counting step 0 (OPS_STEP), so that our run asks what it asked.
RUNS = {"apo": (5, 2), "ape": (5, 2), "opro": (5, 3), "apo-sum": (5, 2), "promptagent": (5, 2), "abo": (1, 2)}
MESSAGES = (Message("user", "Write 2 different improved instructions."),)
SAMPLED = Params(temperature=1.0, top_p=0.9, seed=11)


def recorded(method: str) -> Counter[tuple[str, int]]:
    """(kind, n) of every optimizer request the study's released code made for ``method``."""
    if not FIDELITY.is_dir():
        pytest.skip(f"the study's recorded requests are not at {FIDELITY} (see its README for how they are made)")
    path = FIDELITY / f"study-navigate-{method}.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    kinds = Counter((r["meta"]["kind"], r["body"]["n"]) for r in records if r["meta"]["kind"] != "target")
    assert all(len(r["answers"]) == r["body"]["n"] for r in records), "a recording answers every choice"
    return kinds


def run_study(capsys, session: Path, url: str, method: str, *flags: str) -> SessionStore:
    beam, steps = RUNS[method]
    code, _, err = cli(capsys, "run", "--task", "gen:navigate", *fake_flags(url), "--protocol", "study",
                       "--method", method, "--beam", beam, "--init-prompts", beam, "--steps", steps, *SIZES,
                       "--session", session, *flags)
    assert code == 0, err
    return SessionStore.open(session, read_only=True)


def optimizer_calls(store: SessionStore) -> list[CallRecord]:
    return [c for c in store.calls() if c.role == "optimizer" and c.error is None]


def children_per_parent(store: SessionStore) -> Counter[str]:
    return Counter(p.parent_id for p in store.proposals(step=1) if p.kind == "candidate")


# ------------------------------------------------------------- the runs
def test_released_apo_makes_eight_children_per_parent_from_one_refine_request(capsys, tmp_path):
    with FakeServer() as server:
        with run_study(capsys, tmp_path / "apo.session", server.openai_url, "apo", "--sampling", "released") as store:
            calls = optimizer_calls(store)
            children = children_per_parent(store)
            parents = store.steps()[0].beam
    refines = [c for c in calls if c.purpose == "refine"]
    assert len(parents) == 5 and len(refines) == len(parents)  # one refine request per parent ...
    assert all(c.params.n == 4 and len(c.choices) == 4 for c in refines)  # ... with n=4, every choice kept
    assert sorted(children) == sorted(parents) and set(children.values()) == {8}  # 4 choices × 2 prompts


def test_released_ape_makes_four_children_per_parent(capsys, tmp_path):
    with FakeServer() as server:
        with run_study(capsys, tmp_path / "ape.session", server.openai_url, "ape") as store:  # released: the default
            calls = optimizer_calls(store)
            children = children_per_parent(store)
    assert Counter(c.params.n for c in calls if c.purpose == "refine") == {4: 5}
    assert set(children.values()) == {4} and len(children) == 5


@pytest.mark.parametrize("method", sorted(RUNS))
def test_released_requests_and_their_n_are_the_recorded_ones(capsys, tmp_path, method):
    """Every optimizer request after the initial prompts, by recorded kind and ``n``, as the study's
    released code sent them in the same run (beam, steps)."""
    want = recorded(method)
    kind_of = {purpose: kind for kind, (m, purpose) in KINDS.items() if m == method}
    with FakeServer() as server:
        with run_study(capsys, tmp_path / f"{method}.session", server.openai_url, method) as store:
            calls = [c for c in optimizer_calls(store) if c.purpose != "init"]
    assert not any(c.cached for c in calls)
    assert Counter((kind_of[c.purpose], c.params.n) for c in calls) == want
    # What the released code leaves unread (APO's other reasons, PromptAgent's other feedback,
    # ABO's other demonstrations) is still in the call record: every choice the API returned.
    assert all(len(c.choices) == c.params.n for c in calls)


@pytest.mark.parametrize("method", ["apo", "ape"])
def test_intended_keeps_a_request_per_sample_and_the_intended_counts(capsys, tmp_path, method):
    facts = facts_of(method, "study", "intended")
    with FakeServer() as server:
        with run_study(capsys, tmp_path / "i.session", server.openai_url, method, "--sampling", "intended") as store:
            calls = optimizer_calls(store)
            children = children_per_parent(store)
    assert {c.params.n for c in calls} == {1} and not any(c.choices for c in calls)
    assert Counter(c.purpose for c in calls)["refine"] == 5 * facts.samples  # a request per sample, 5 parents
    assert set(children.values()) == {facts.per_parent} and facts.per_parent == {"apo": 4, "ape": 2}[method]


def test_a_rerun_of_a_released_run_replays_every_choice_from_the_cache(capsys, tmp_path):
    with FakeServer() as server:
        with run_study(capsys, tmp_path / "first.session", server.openai_url, "apo") as first:
            before = {p.id: p.text for p in first.proposals()}
        asked = server.requests
        with run_study(capsys, tmp_path / "again.session", server.openai_url, "apo") as again:
            after = {p.id: p.text for p in again.proposals()}
            calls = optimizer_calls(again)
        assert server.requests == asked  # not one new request
    assert after == before  # the same 8 children per parent, from the same choices
    assert calls and all(c.cached for c in calls) and {c.params.n for c in calls if c.purpose != "init"} == {4}


def test_sampling_is_the_studys_alone(capsys):
    code, _, err = cli(capsys, "run", "--sampling", "released", "--method", "apo")
    assert code == 2 and "'sampling'" in err and "study" in err
    code, _, err = cli(capsys, "run", "--protocol", "study", "--sampling", "paper")
    assert code == 2 and "'sampling' must be one of released, intended" in err


# ------------------------------------------------------- the model layer
async def test_openai_compatible_n_is_one_request_billed_once_with_every_choice():
    records: list[CallRecord] = []
    with FakeServer() as server:
        llm = make_llm("openai:fake", role="optimizer", base_url=server.openai_url, cache=MemoryCache(),
                       on_call=records.append)
        params = Params(temperature=1.0, top_p=0.9, seed=11, n=4)
        choices = await llm.choices(MESSAGES, params, purpose="refine")
        assert server.requests == 1
        again = await llm.choices(MESSAGES, params, purpose="refine")
        assert server.requests == 1  # replayed: every choice from the cache
        await llm.aclose()
    assert len(choices) == 4 and len({c.text for c in choices}) == 4
    assert [c.text for c in again] == [c.text for c in choices] and all(c.cached for c in again)
    assert (llm.calls, llm.cache_hits) == (1, 1)
    # One request: its prompt billed once, every choice's tokens (the first choice carries the usage).
    assert llm.prompt_tokens == choices[0].usage.prompt_tokens > 0
    assert [c.usage.prompt_tokens for c in choices[1:]] == [0, 0, 0]
    first, hit = records
    assert first.params.n == 4 and first.choices == tuple(c.text for c in choices) and not first.cached
    assert hit.cached and hit.choices == first.choices


async def test_a_request_of_one_choice_keeps_its_cache_key_and_sends_no_n():
    with FakeServer() as server:
        cache = MemoryCache()
        llm = make_llm("openai:fake", role="optimizer", base_url=server.openai_url, cache=cache)
        one = await llm.choices(MESSAGES, SAMPLED)
        again = await llm.complete(MESSAGES, SAMPLED)  # the same entry as before n existed
        await llm.aclose()
    assert len(one) == 1 and again.cached and again.text == one[0].text and len(cache) == 1


async def test_a_failed_request_for_n_choices_is_not_cached():
    with FakeServer(always_fail={"improved": "500"}) as server:
        cache = MemoryCache()
        llm = LLM(make_llm("openai:fake", role="optimizer", base_url=server.openai_url).provider, role="optimizer",
                  cache=cache, retries=1, backoff=0.0)
        with pytest.raises(Exception, match="HTTP 500"):
            await llm.choices(MESSAGES, Params(seed=1, n=3))
        await llm.aclose()
    assert len(cache) == 0 and server.requests == 2  # the first attempt and its one retry


class OneChoiceProvider(ScriptedProvider):
    """An OpenAI-compatible server that ignores ``n`` (as llama.cpp's does): one choice per request."""

    async def complete_n(self, messages, params: Params) -> list[Completion]:
        return [await self.complete(messages, params)]


async def test_a_server_that_ignores_n_is_asked_again_for_the_missing_choices():
    provider = OneChoiceProvider("openai:one", lambda text, p: f"choice at sample {p.sample}")
    cache = MemoryCache()
    llm = LLM(provider, role="optimizer", cache=cache)
    choices = await llm.choices(MESSAGES, Params(seed=5, n=3))
    assert [c.text for c in choices] == ["choice at sample 0", "choice at sample 1", "choice at sample 2"]
    assert [p.n for _, p in provider.requests] == [3, 2, 1] and llm.calls == 3  # each billed
    replay = await llm.choices(MESSAGES, Params(seed=5, n=3))
    assert [c.text for c in replay] == [c.text for c in choices] and provider.calls == 3  # keyed as the request's choices


async def test_anthropic_has_no_n_so_n_choices_are_n_requests():
    records: list[CallRecord] = []
    with FakeServer() as server:
        llm = make_llm("anthropic:fake", role="optimizer", base_url=server.url, cache=MemoryCache(),
                       on_call=records.append)
        choices = await llm.choices(MESSAGES, Params(temperature=1.0, max_tokens=64, n=3))
        assert [s.api for s in server.log] == ["anthropic"] * 3
        await llm.choices(MESSAGES, Params(temperature=1.0, max_tokens=64, n=3))
        assert server.requests == 3  # each request replayed from the cache
        await llm.aclose()
    assert len(choices) == 3 and llm.calls == 3  # billed as the three requests they are
    # The three are asked at once: their records come in the order they are answered.
    assert sorted(r.params.sample for r in records[:3]) == [0, 1, 2] and all(r.params.n == 1 for r in records)


async def test_the_embedded_model_draws_n_samples():
    llm = make_llm("local:smollm2", role="optimizer", cache=MemoryCache())
    choices = await llm.choices(MESSAGES, Params(temperature=1.0, top_p=0.9, max_tokens=4, n=2))
    assert len(choices) == 2 and llm.calls == 2  # two generations, each at its own seed
    assert all(c.usage.completion_tokens <= 4 for c in choices)


def test_the_estimate_counts_released_requests_and_every_choice_they_bill():
    released = from_dict({"protocol": "study", "method": "apo"})
    intended = released.replace(sampling="intended")
    r, i = estimate_step(released).roles[1], estimate_step(intended).roles[1]
    assert (r.calls, i.calls) == (5 * 2, 5 * (1 + 2))  # released: a reflection and a refinement per parent
    assert r.completion_tokens == r.calls * 4 * OPTIMIZER_ANSWER  # each request's 4 choices are generated
    assert i.completion_tokens == i.calls * OPTIMIZER_ANSWER


def test_a_study_session_stored_before_sampling_existed_resumes_with_the_counts_it_ran():
    old = {k: v for k, v in RunConfig(protocol="study").to_dict().items() if k != "sampling"}
    assert from_stored(old).sampling_mode == "intended" and from_stored(old).n_per_parent == 4
    assert from_stored(RunConfig(protocol="study").to_dict()).sampling_mode == "released"
    assert from_stored({**old, "sampling": "released"}).n_per_parent == 8  # a resume may still choose
    assert from_stored(RunConfig().to_dict()).sampling_mode == "intended"  # the default protocol: unchanged


async def test_a_real_server_that_ignores_n_still_gives_every_choice(llama_server, monkeypatch):
    """llama-cpp-python's server takes ``n`` and answers one choice: the rest are asked again."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    records: list[CallRecord] = []
    cache = MemoryCache()
    llm = make_llm("openai:smollm2", role="optimizer", base_url=llama_server.base_url, cache=cache,
                   on_call=records.append)
    params = Params(temperature=1.0, top_p=0.9, max_tokens=4, seed=3, n=2)
    choices = await llm.choices(MESSAGES, params)
    again = await llm.choices(MESSAGES, params)
    await llm.aclose()
    assert len(choices) == 2 and llm.calls == 2 and len(cache) == 2
    assert [(r.params.n, r.params.sample, r.cached) for r in records] == [(2, 0, False), (1, 1, False), (2, 0, True)]
    assert [c.text for c in again] == [c.text for c in choices]


class TightProvider(ScriptedProvider):
    """An optimizer whose context no request fits."""

    async def overflow(self, messages, params: Params) -> str:
        return "the request exceeds the context"


@pytest.mark.parametrize(("sampling", "failed"), [("released", 1), ("intended", 2)])
async def test_a_request_that_cannot_fit_is_one_failed_candidate_per_request(sampling, failed):
    provider = TightProvider("fake:opt", lambda text, p: "<START>never asked<END>")
    config = from_dict({"protocol": "study", "method": "apo", "sampling": sampling})
    method = make_method("apo", LLM(provider, role="optimizer", cache=MemoryCache()), toy_task(), config)
    drafts = await method.refine(StepContext(step=1, parent=Prompt("p", "Answer."), errors=()), ["be precise"])
    assert len(drafts) == failed and provider.calls == 0  # released: one request, so one failure
    assert all(d.parse_error == "not answered: the request exceeds the context" for d in drafts)


def test_a_resume_of_a_released_step_replays_every_choice_and_asks_only_what_failed(capsys, tmp_path):
    """Step 1's scoring fails for good (every child's target request), so the run stops after its
    optimizer requests (exit 4); the resume asks the targets again and the optimizer nothing."""
    initial = tmp_path / "initial.json"
    initial.write_text(json.dumps(["Start here and answer.", "Start there and answer."]))
    session = tmp_path / "stopped.session"
    # The end of a child's text (the fake optimizer's) right before the study's input: its target requests.
    child_target = '{"answer": "..."}.\n\n## Input'
    with FakeServer(always_fail={child_target: "500"}) as server:
        code, _, err = cli(capsys, "run", "--task", "gen:navigate", *fake_flags(server.openai_url), "--protocol",
                           "study", "--method", "apo", "--initial-prompts", initial, "--beam", "2", "--steps", "2",
                           *SIZES, "--session", session)
        assert code == 4, err
        asked = len(server.log)
        server.always_fail.clear()
        code, _, err = cli(capsys, "run", "--session", session)
        assert code == 0, err
        again = server.log[asked:]
    assert again and all("## Input" in s.prompt for s in again)  # target requests only
    with SessionStore.open(session, read_only=True) as store:
        calls = [c for c in optimizer_calls(store) if c.purpose in ("reflect", "refine")]
        children = children_per_parent(store)
    fresh, replayed = [c for c in calls if not c.cached], [c for c in calls if c.cached]
    assert Counter((c.purpose, c.params.n) for c in fresh) == {("reflect", 4): 2, ("refine", 4): 2}
    assert Counter((c.purpose, c.params.n) for c in replayed) == {("reflect", 4): 2, ("refine", 4): 2}
    assert sorted(c.choices for c in replayed) == sorted(c.choices for c in fresh)  # every choice, as first drawn
    assert set(children.values()) == {8}
