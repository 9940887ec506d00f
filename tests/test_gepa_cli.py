"""GEPA from the command line against the fake OpenAI-compatible endpoint
(real HTTP, real sessions): ``--method apo,gepa`` writes GEPA's
rows in steps.csv, and one ``audit`` command compares the two methods'
feedback (repetitiveness, grounding) over the same task."""
from __future__ import annotations

import csv
import json

import pytest

from reflectloop.sessions.store import SessionStore
from tests.support.fake_server import FakeServer
from reflectloop.tui.cli import main

SIZES = ["--steps", "3", "--beam", "1", "--dev-size", "6", "--test-size", "2", "--init-prompts", "2",
         "--gepa-iterations", "3"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One ``run --method apo,gepa`` for every test here."""
    home = tmp_path_factory.mktemp("gepa")
    folder = home / "two"
    # Module-scoped, so set up before conftest's per-test home: keep the run's cache out of the user's.
    with pytest.MonkeyPatch.context() as env, FakeServer() as fake:
        env.setenv("REFLECTLOOP_HOME", str(home / "home"))
        env.setenv("REFLECTLOOP_CONFIG", str(home / "no-config.toml"))
        url = fake.openai_url
        models = ["--target", "openai:fake", "--target-base-url", url,
                  "--optimizer", "openai:fake", "--optimizer-base-url", url]
        code = main(["run", "--method", "apo,gepa", "--task", "gen:navigate", *models, *SIZES,
                     "--session", str(folder)])
    assert code == 0
    return folder


def test_gepa_has_its_rows_in_steps_csv_and_its_search_in_the_records(compared):
    with (compared / "steps.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["method"], r["step"]) for r in rows] == [(m, s) for m in ("apo", "gepa") for s in ("0", "1", "2")]
    with SessionStore.open(compared / "gepa.session", read_only=True) as store:
        records = store.steps()
        kinds = {p.kind for p in store.proposals()}
        dev = {ev.prompt_id for _, ev in store.evaluations() if ev.split == "dev"}
    assert [str(r.dev_best) for r in records] == [r["dev_best"] for r in rows if r["method"] == "gepa"]
    assert kinds == {"candidate", "feedback"}
    for r in records[1:]:
        assert len(r.picks) == 3 and set(r.beam) == set(r.front)
        assert all((g.candidate_id in dev) == g.accepted for g in r.gates)
    # Both start from the same initial prompts.
    shared = json.loads((compared / "initial_prompts.json").read_text())
    assert _step0_texts(compared / "gepa.session") == sorted(set(shared))


def _step0_texts(session) -> list[str]:
    with SessionStore.open(session, read_only=True) as store:
        return sorted(p.instruction for p in store.prompts().values() if p.step == 0)


def test_one_audit_command_compares_gepas_feedback_with_apos(compared, capsys):
    capsys.readouterr()
    assert main(["audit", str(compared), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    by_method = {s["method"]: s for s in doc["sessions"]}
    assert set(by_method) == {"apo", "gepa"}
    with SessionStore.open(compared / "gepa.session", read_only=True) as store:
        tried = sum(not p.skipped for r in store.steps() for p in r.picks)
        feedback = [p for p in store.proposals() if p.kind == "feedback"]
    gepa = by_method["gepa"]
    # Every iteration reflected on its own minibatch: each is an error set of its own,
    # even when several iterations of one step drew the same parent.
    assert gepa["repetition"]["items"] == len(feedback) == tried
    assert gepa["repetition"]["error_sets"] == tried
    assert gepa["grounding"]["summary"]["llm"]["feedback"] == len(feedback)
    for method in ("apo", "gepa"):  # the number the question asks for, for both methods
        assert by_method[method]["repetition"]["items_across_sets"]["n"] > 0
