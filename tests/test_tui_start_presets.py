"""The start screen's presets, its estimate of one step, and task files in
its task picker: Pilot with scripted models, asserting on the app's own
messages (``message_hook``) and widgets."""
from __future__ import annotations

import shutil
from pathlib import Path

from textual.widgets import Input, OptionList, Select

from reflectloop.core.settings.estimate import OPTIMIZER_ANSWER, OPTIMIZER_REQUEST, TARGET_REQUEST
from reflectloop.core.settings.presets import QUICK
from tests.tui_fixtures import (  # noqa: F401  (quiet_terminal: an autouse fixture)
    SIZE,
    Injector,
    Recorder,
    plain,
    quiet_terminal,
    tui_config,
    wait_for,
)
from reflectloop.tui.app import ReflectLoopApp
from reflectloop.tui.messages import RunRequested
from reflectloop.tui.widgets.start import EstimatePanel

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


async def start_and_get_request(pilot, hook: Recorder) -> RunRequested:
    await pilot.press("ctrl+s")
    request = await wait_for(pilot, lambda: hook.of(RunRequested), what="the run request")
    await pilot.app.action_quit()
    return request[0]


async def test_choosing_a_preset_fills_the_sizes_and_its_caps_reach_the_run():
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), injected=Injector())
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        screen = app.screen
        picker = screen.query_one("#preset", Select)
        assert picker.value is Select.NULL  # the test's sizes are neither preset's
        screen.query_one("#seed", Input).value = "9"  # no preset sets the seed: it stays as typed
        picker.value = "quick"
        await wait_for(pilot, lambda: screen.query_one("#beam", Input).value == "2", what="the quick sizes")
        assert any(isinstance(m, Select.Changed) and m.value == "quick" for m in hook.messages)
        assert [screen.query_one(f"#{f}", Input).value for f in ("steps", "beam", "dev_size", "test_size")] == \
               ["3", "2", "8", "8"]
        # A size typed afterwards wins over the preset.
        screen.query_one("#dev_size", Input).value = "5"
        request = await start_and_get_request(pilot, hook)
    config = request.config
    assert (config.beam, config.dev_size, config.test_size, config.steps, config.seed) == (2, 5, 8, 3, 9)
    assert (config.target_max_tokens, config.optimizer_max_tokens) == (QUICK.settings["target_max_tokens"],
                                                                     QUICK.settings["optimizer_max_tokens"])
    assert config.init_prompts == QUICK.settings["init_prompts"]


async def test_the_estimate_follows_the_form():
    app = ReflectLoopApp(config=tui_config(), injected=Injector())
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        panel = screen.query_one(EstimatePanel)
        # apo, beam 1, dev 6, test 4: 1 × 2 candidates × 6 + 4 target calls, a reflection and a refinement.
        await wait_for(pilot, lambda: "step 1: about 18 calls" in plain(panel), what="the first estimate")
        assert "target fake:target: 16 calls" in plain(panel) and "optimizer fake:opt: 2 calls" in plain(panel)
        assert "step 0: about 18 calls" in plain(panel)  # 2 initial prompts × 6 + 4, and 2 written
        screen.query_one("#beam", Input).value = "3"
        await wait_for(pilot, lambda: "step 1: about 46 calls" in plain(panel), what="the estimate at beam 3")
        screen.query_one("#target", Input).value = "openai:gpt-4o-mini"
        screen.query_one("#optimizer", Input).value = "openai:gpt-4o"
        # 40 target calls at $0.15/M in, $0.60/M out (100-token answers); 6 optimizer calls at $2.50/$10.00.
        cost = (40 * TARGET_REQUEST * 0.15 + 40 * 100 * 0.60 + 6 * OPTIMIZER_REQUEST * 2.50
                + 6 * OPTIMIZER_ANSWER * 10.00) / 1e6
        await wait_for(pilot, lambda: f"about ${cost:.4f}" in plain(panel), what="the priced estimate")
        screen.query_one("#beam", Input).value = "two"
        await wait_for(pilot, lambda: "no estimate: beam must be a whole number, not 'two'" in plain(panel),
                       what="the form's error in place of the estimate")
        screen.query_one("#beam", Input).value = "3"
        screen.query_one("#method", Select).value = "ape"
        # APE: no reflection, 5 paraphrases per parent drawn one per call: 3 × 5 × 6 + 4 and 3 × 5.
        await wait_for(pilot, lambda: "step 1: about 109 calls" in plain(panel), what="the estimate for APE")
        await app.action_quit()


async def pick_task(pilot, screen, spec: str) -> None:
    """Choose ``spec`` in the start screen's task list, as a person does (focus, highlight, Enter)."""
    picker = screen.query_one("#task-list", OptionList)
    picker.focus()
    picker.highlighted = picker.specs.index(spec)
    await pilot.press("enter")


async def test_a_task_file_is_pickable_and_reaches_the_run():
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(data_dir=str(EXAMPLES)), injected=Injector())
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        screen = app.screen
        picker = screen.query_one("#task-list", OptionList)
        spec = f"file:{EXAMPLES / 'ticket-routing' / 'task.toml'}"
        assert spec in picker.specs and {"gen:navigate", "gen:object_counting"} <= set(picker.specs)
        await pick_task(pilot, screen, spec)
        await wait_for(pilot, lambda: screen.query_one("#task", Input).value == spec, what="the picked task")
        request = await start_and_get_request(pilot, hook)
    assert request.config.task == spec


async def test_picking_a_promptfoo_suite_takes_its_provider_as_the_target(tmp_path):
    suite = tmp_path / "suite"
    shutil.copytree(EXAMPLES / "promptfoo", suite)
    provider = "  - id: openai:chat:gpt-4o-mini\n    config: {apiBaseUrl: 'http://127.0.0.1:9/v1'}"
    config = (suite / "promptfooconfig.yaml").read_text().replace("  - id: ollama:chat:smollm2:135m", provider)
    (suite / "promptfooconfig.yaml").write_text(config)
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(data_dir=str(tmp_path)), injected=Injector())
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        screen = app.screen
        spec = f"promptfoo:{suite / 'promptfooconfig.yaml'}"
        await pick_task(pilot, screen, spec)
        await wait_for(pilot, lambda: screen.query_one("#target", Input).value == "openai:gpt-4o-mini",
                       what="the suite's provider as the target")
        request = await start_and_get_request(pilot, hook)
    assert (request.config.task, request.config.target_base_url) == (spec, "http://127.0.0.1:9/v1")
