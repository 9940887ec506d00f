"""``repeat_runs``: the same settings with K seeds; mean and spread per step.

Scripted models whose target depends on the seed, so the spread is known."""
from __future__ import annotations

import csv
import json
import re
import statistics

import pytest

from tests.scripted import optimizer_by_rules, scripted_llm, toy_task
from reflectloop.tui.subcommands.repeats import repeat_runs, spread, summary_text


def seeded_target(seed: int):
    """Right on every question under GOOD; under HALF on those divisible by seed + 2."""

    def answer(text, params):
        n = int(re.search(r"Input:\nq(\d+)", text).group(1))
        right = "GOOD" in text or ("HALF" in text and n % (seed + 2) == 0)
        return json.dumps({"answer": str(n) if right else "wrong"})

    return answer


class Injector:
    """Scripted models per seed, each with an empty cache; keeps the providers
    so a test can count the calls the models made."""

    def __init__(self):
        self.providers = []

    def __call__(self, config):
        rules = {
            "Write one clear instruction": "<START>Answer HALF.<END>",
            "reasons why the instruction": "<START>it ignores the number<END>",
            "improved instructions": "<START>Answer GOOD.<END>",
        }
        target, t = scripted_llm("fake:target", seeded_target(config.seed), role="target")
        optimizer, o = scripted_llm("fake:opt", optimizer_by_rules(rules), role="optimizer")
        self.providers += [t, o]
        return toy_task(), target, optimizer

    @property
    def calls(self) -> int:
        return sum(p.calls for p in self.providers)


injector = Injector()


VALUES = dict(task="gen:navigate", method="apo", steps=2, beam=1, init_prompts=1, dev_size=6, test_size=4, seed=0)


async def test_repeats_report_mean_and_spread_per_step(tmp_path):
    seen = []
    first = Injector()
    result = await repeat_runs(VALUES, 3, folder=tmp_path / "x3", injected=first,
                               on_step=lambda seed, r: seen.append((seed, r.step)))
    assert first.calls > 0
    assert result.seeds == [0, 1, 2] and all(s.is_dir() for s in result.sessions)
    assert seen == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    step0, step1 = result.summary
    dev0 = [3 / 6, 2 / 6, 2 / 6]  # q0..q5 divisible by 2, 3, 4
    test0 = [2 / 4, 1 / 4, 1 / 4]  # q100..q103
    assert step0.n == 3
    assert step0.mean["dev_best"] == pytest.approx(statistics.mean(dev0))
    assert step0.std["dev_best"] == pytest.approx(statistics.stdev(dev0))
    assert (step0.min["dev_best"], step0.max["dev_best"]) == pytest.approx((2 / 6, 3 / 6))
    assert step0.mean["test"] == pytest.approx(statistics.mean(test0))
    assert step1.mean["dev_best"] == 1.0 and step1.std["dev_best"] == 0.0
    with (result.folder / "repeats.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and rows[0] == {"seed": "0", "step": "0", "dev_best": "0.5", "test": "0.5"}
    with (result.folder / "repeats_summary.csv").open() as f:
        summary = list(csv.DictReader(f))
    assert [r["step"] for r in summary] == ["0", "1"]
    assert float(summary[0]["dev_best_std"]) == pytest.approx(statistics.stdev(dev0))
    text = summary_text(result)
    assert "3 seeds (0, 1, 2)" in text and "0.389 ± 0.096" in text

    # Run again into the same folder: the sessions are continued (already done), not redone:
    # fresh models with empty caches make no call at all.
    resumed = Injector()
    again = await repeat_runs({**VALUES}, 3, folder=tmp_path / "x3", injected=resumed)
    assert again.rows == result.rows
    assert len(resumed.providers) == 6 and resumed.calls == 0

    # A longer run continues each seed with its step 2 only (from the stored steps 0 and 1).
    more = await repeat_runs({**VALUES, "steps": 3}, 3, folder=tmp_path / "x3", injected=Injector())
    assert [r["step"] for r in more.rows] == [0, 1, 2] * 3
    assert [r for r in more.rows if r["step"] < 2] == result.rows


def test_spread_of_one_run_and_of_missing_test_scores():
    [s] = spread([{"seed": 0, "step": 0, "dev_best": 0.5, "test": None}])
    assert s.std["dev_best"] == 0.0 and s.mean["test"] is None


async def test_repeats_refuse_zero(tmp_path):
    with pytest.raises(ValueError, match="at least 1"):
        await repeat_runs(VALUES, 0, folder=tmp_path / "none", injected=injector)


async def test_repeats_take_one_method(tmp_path):
    with pytest.raises(ValueError, match="one method at a time"):
        await repeat_runs({**VALUES, "method": "apo,opro"}, 2, folder=tmp_path / "two", injected=injector)
