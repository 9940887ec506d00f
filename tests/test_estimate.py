"""One step's calls, tokens and cost before a run starts, on values
computed by hand from the configuration and the methods' facts."""
from __future__ import annotations

import pytest

from reflectloop.core.settings.config import RunConfig, from_dict
from reflectloop.core.settings.estimate import (
    OPTIMIZER_ANSWER, OPTIMIZER_REQUEST, TARGET_ANSWER, TARGET_REQUEST, describe, estimate_step, headline,
)

SIZES = dict(beam=3, dev_size=10, test_size=20, init_prompts=4)


def roles(config: RunConfig, step: int = 1) -> dict[str, int]:
    return {r.role: r.calls for r in estimate_step(config, step).roles}


def test_step_zero_writes_and_scores_the_initial_prompts():
    # 4 prompts written; each on 10 dev examples, the best on 20 test examples.
    assert roles(RunConfig(**SIZES), 0) == {"target": 4 * 10 + 20, "optimizer": 4}
    # Given prompts: the optimizer writes none.
    assert roles(RunConfig(**SIZES, initial_prompts="task"), 0)["optimizer"] == 0


@pytest.mark.parametrize("method, optimizer_per_parent, candidates_per_parent", [
    ("apo", 1 + 1, 2),  # one reflection, one refine sample asking for 2 prompts
    ("promptagent", 1 + 1, 2),
    ("ape", 0 + 5, 5),  # no reflection, 5 paraphrases drawn one per sample
    ("opro", 0 + 2, 2),  # no feedback text, one call per candidate
    ("apo-sum", 2 + 0, 2),  # 2 combined analysis-and-revision calls
    ("abo-ablation", 2 + 0, 2),
    ("abo", 2 + 0 + 2, 2),  # ... and a demonstration per candidate
])
def test_a_later_step_per_method(method, optimizer_per_parent, candidates_per_parent):
    calls = roles(RunConfig(method=method, **SIZES))
    assert calls == {"optimizer": 3 * optimizer_per_parent, "target": 3 * candidates_per_parent * 10 + 20}


def test_settings_override_the_method_facts():
    # 4 candidates per parent from 2 samples: APO asks 2 refine samples of 2 prompts each.
    calls = roles(RunConfig(method="apo", per_parent=4, samples=2, **SIZES))
    assert calls == {"optimizer": 3 * (1 + 2), "target": 3 * 4 * 10 + 20}


def test_gepa_counts_its_iterations():
    # 5 iterations of a reflection and a candidate; each candidate on a minibatch of 3, at most on all 10.
    calls = roles(from_dict(dict(method="gepa", gepa_iterations=5, **SIZES)))
    assert calls == {"optimizer": 5 * 2, "target": 5 * (3 + 10) + 20}


def test_tokens_use_the_caps_when_set():
    est = estimate_step(RunConfig(method="apo", **SIZES))
    target, optimizer = est.roles
    assert target.prompt_tokens == 80 * TARGET_REQUEST and target.completion_tokens == 80 * TARGET_ANSWER
    assert optimizer.tokens == 6 * (OPTIMIZER_REQUEST + OPTIMIZER_ANSWER)
    capped = estimate_step(RunConfig(method="apo", target_max_tokens=48, optimizer_max_tokens=160, **SIZES))
    assert capped.roles[0].completion_tokens == 80 * 48 and capped.roles[1].completion_tokens == 6 * 160
    assert capped.tokens == 80 * (TARGET_REQUEST + 48) + 6 * (OPTIMIZER_REQUEST + 160)


def test_cost_from_the_price_table():
    # gpt-4o-mini: $0.15 in / $0.60 out per million; gpt-4o: $2.50 / $10.00.
    est = estimate_step(RunConfig(method="apo", target="openai:gpt-4o-mini", optimizer="openai:gpt-4o",
                                  target_max_tokens=50, optimizer_max_tokens=100, **SIZES))
    target = (80 * TARGET_REQUEST * 0.15 + 80 * 50 * 0.60) / 1e6
    optimizer = (6 * OPTIMIZER_REQUEST * 2.50 + 6 * 100 * 10.00) / 1e6
    assert est.cost == pytest.approx(target + optimizer)
    assert f"about ${target + optimizer:.4f}" in headline(est)


def test_local_models_are_free_and_unlisted_ones_unknown():
    free = estimate_step(RunConfig(**SIZES))
    assert free.cost == 0 and not free.priced and "free" in headline(free)
    unknown = estimate_step(RunConfig(target="openai:not-a-listed-model", **SIZES))
    assert unknown.cost is None and "cost unknown" in headline(unknown)


def test_the_per_method_optimizer_is_the_one_counted():
    est = estimate_step(RunConfig(method="apo", optimizers="apo=openai:gpt-4o", **SIZES))
    assert est.roles[1].spec == "openai:gpt-4o" and est.cost > 0
    assert "optimizer openai:gpt-4o: 6 calls" in describe(est)


async def test_a_scripted_run_makes_the_estimated_calls(tmp_path):
    # Every reply parses and every candidate is new, so nothing falls short of the estimate.
    from reflectloop.core.review import AutoReviewer
    from reflectloop.sessions.service import open_run
    from tests.tui_fixtures import Injector, tui_config

    config = tui_config(steps=2, beam=1, init_prompts=2, dev_size=6, test_size=4)
    run = open_run(config, AutoReviewer(), session=tmp_path / "estimate.session", injected=Injector())
    await run.drive()
    await run.close()
    step0, step1 = run.records
    assert step0.calls == estimate_step(config, 0).calls == 2 + 2 * 6 + 4
    assert step1.test is not None and step1.best_id != step0.best_id  # a new best: tested, as the estimate counts
    assert step1.calls == estimate_step(config, 1).calls == (1 + 1) + 2 * 6 + 4
