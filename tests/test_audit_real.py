"""The audit on a real session: 2 steps of APO on gen:navigate with the
embedded model (local:smollm2) as the optimizer.

* the control experiment re-asks the real optimizer through the method's own
  ``reflect`` under every condition;
* the HTML report of that session opens in headless Chromium and the
  screenshot is not blank.

The target is the fake endpoint (``tests.support.fake_server``) and the two
initial prompts are given: the embedded model's text differs from machine to
machine (llama.cpp is built for the CPU it runs on), so the errors the control
needs — a parent with right and wrong dev answers, another prompt's errors —
are made by a target whose answers are a function of the request alone.  The
optimizer, the part under test, is the real model.

Slow (a minute or two on 2 cores): the run and the control make real model
calls; the module's tests share one response cache.
"""
from __future__ import annotations

import asyncio
import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from reflectloop.core.analysis import CONDITIONS, audit, control_method, run_control, session_task
from reflectloop.core.settings.config import RunConfig, from_dict
from reflectloop.core.review import AutoReviewer
from reflectloop.sessions.audit_data import load_session
from reflectloop.sessions.service import open_run
from tests.support.fake_server import FakeServer
from tests.support.homes import link_cache
from tests.test_audit import cli

pytestmark = pytest.mark.shared_model_cache
CHROMIUM = Path("/usr/bin/chromium")
# Given, so the fake target's answers to them are the same on every machine;
# on the 6 dev examples each gets some right and some wrong (checked below).
INITIAL = [
    "Follow the instructions step by step and say whether you end up where you started.",
    "Track your position after every move, then answer whether you are back at the start.",
]


@pytest.fixture(scope="module")
def real_session(tmp_path_factory, module_cache) -> Path:
    """One real 2-step APO session, shared by the tests of this module."""
    folder = tmp_path_factory.mktemp("real")
    home = link_cache(tmp_path_factory.mktemp("real-home"), module_cache)
    initial = folder / "initial.json"
    initial.write_text(json.dumps(INITIAL))
    path = folder / "navigate-apo.session"

    async def go(server: FakeServer):
        config = RunConfig(
            task="gen:navigate", method="apo", steps=2, beam=1, dev_size=6, test_size=4,
            init_prompts=len(INITIAL), initial_prompts=str(initial),
            target="openai:fake", target_base_url=server.openai_url, optimizer="local:smollm2",
            optimizer_max_tokens=160,
        )  # fmt: skip
        run = open_run(config, AutoReviewer(), session=path)
        try:
            await run.drive()
        finally:
            await run.close()

    with pytest.MonkeyPatch.context() as mp, FakeServer() as server:
        mp.setenv("REFLECTLOOP_HOME", str(home))
        mp.setenv("REFLECTLOOP_CONFIG", str(home / "no-config.toml"))
        asyncio.run(go(server))
    return path


def _in_unit(x) -> bool:
    return x is not None and math.isfinite(x) and 0.0 <= x <= 1.0


async def test_control_reasks_the_real_optimizer_under_every_condition(real_session):
    data = load_session(real_session)
    assert [s.step for s in data.steps] == [0, 1]
    # What every condition needs, by construction: both given prompts scored
    # with right and wrong answers, and the parent reflected on.
    given = {p.instruction: i for i, p in data.prompts.items() if p.instruction in INITIAL}
    assert sorted(given) == sorted(INITIAL)
    for instruction, prompt_id in given.items():
        results = [r.correct for r in data.dev[prompt_id].scored]
        assert any(results) and not all(results), f"{instruction!r}: {results}"
    assert data.feedback("llm"), "the run reflected on its errors"
    config = from_dict(data.config)
    task = session_task(config)
    records = []
    method = control_method(config, task, on_call=records.append)
    try:
        result = await run_control(data, task, method, samples=1, max_sets=1)
    finally:
        await method.optimizer.aclose()
    assert not result.skipped, f"conditions skipped: {result.skipped}"
    assert sorted(s.condition for s in result.samples) == sorted(CONDITIONS)  # one per condition
    for s in result.samples:
        assert _in_unit(s.similarity) and s.text.strip()
    by = {s.condition: s for s in result.samples}
    original = {e.example_id for e in data.feedback("llm")[0].errors}
    assert set(by["same"].errors) == original
    assert set(by["correct"].errors).isdisjoint(original)  # right answers, presented as errors
    assert by["other"].errors and by["shuffled"].errors
    assert _in_unit(result.same) and _in_unit(result.different)
    assert math.isfinite(result.insensitivity) and result.insensitivity >= 0
    # Every control answer was a real call of the optimizer's reflect, none from the run's cache:
    # a condition may only find what another condition asked (a shuffle that drew the same errors
    # asks the very same request, which waits its turn for the one slot and finds it cached).
    control = [r for r in records if r.purpose == "control-reflect"]
    asked = {(r.messages, r.params) for r in control if not r.cached}
    assert len(control) == len(CONDITIONS) and asked
    assert all((r.messages, r.params) in asked for r in control if r.cached)
    assert all(r.role == "optimizer" and r.model == "local:smollm2" for r in control)
    # The audit carries the control into its headline numbers.
    a = audit(data, control=result)
    head = a.headline()
    assert head["control_same"] == result.same and head["control_insensitivity"] == result.insensitivity
    assert _in_unit(head["format_rate"])


def test_report_of_a_real_session_renders_in_chromium(real_session, tmp_path):
    out = tmp_path / "report.html"
    assert cli(["report", str(real_session), "--control", "--control-sets", "1", "-o", str(out)]) == 0
    html = out.read_text()
    assert "Control: the optimizer re-asked with other errors" in html and "data:image/png;base64," in html
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed (apt-get install -y chromium): the report was written but not rendered")
    shot = tmp_path / "report.png"
    profile = tmp_path / "chromium-profile"
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1200,2000", out.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)  # a ceiling, not a timing check
    assert shot.exists(), f"no screenshot; chromium said: {done.stderr[-2000:]}"
    from PIL import Image

    with Image.open(shot) as img:
        assert img.size == (1200, 2000)
        grey = img.convert("L")
        lo, hi = grey.getextrema()
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
    assert lo < hi, "the screenshot is one flat colour"
    assert colours is None or len(colours) > 50, "the screenshot has almost no content"
    shutil.copy(shot, tmp_path / "report-screenshot.png")  # kept beside the report for a person to look at
