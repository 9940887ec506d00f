"""A task file in the TUI: a spec typed on the start screen opens the task,
the error table shows each error's graded score and the metric's feedback
(a failed judge's reply too), literally; the task file's warnings appear
when the run opens; ``/save PATH`` writes the best prompt.  Scripted models
(the loop's logic), real task files and real session files."""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from rich.text import Text
from textual.app import App
from textual.widgets import Input

from reflectloop.core.settings.config import RunConfig
from reflectloop.core.tasks import load_task
from reflectloop.core.types import Evaluation, Example, ExampleResult
from tests.test_taskfile_loop import scripted
from tests.tui_fixtures import (  # noqa: F401  (quiet_terminal: an autouse fixture)
    SIZE,
    Recorder,
    default_rules,
    finish_step0,
    loop_screen,
    past_step0,
    plain,
    quiet_terminal,
    submit,
    tui_config,
    wait_for,
    wait_open,
)
from tests.scripted import optimizer_by_rules
from reflectloop.tui.app import ReflectLoopApp
from reflectloop.tui.messages import NoteArrived, RunOpened, RunRequested
from reflectloop.tui.widgets.transcript import EvaluationMessage, SystemLine
from reflectloop.tui.widgets.transcript.errors import ErrorTable

ROOT = Path(__file__).resolve().parents[1]
CONTACTS = "file:examples/contact-extraction/task.toml"  # relative: the snapshot shows the spec
EMAIL = re.compile(r"[\w.]+@[\w.]+\w")


def half_right(text: str, params) -> str:
    """The email right, the name and company wrong: half the fields of each contact."""
    email = EMAIL.search(text)
    return json.dumps({"name": "Unknown", "company": "Unknown", "email": email.group() if email else "",
                       "phone": None})


def injected(config: RunConfig):
    task = load_task(config.task, seed=config.seed, dev_size=config.dev_size, test_size=config.test_size)
    target, _ = scripted("fake:target", half_right, "target")
    optimizer, _ = scripted("fake:opt", optimizer_by_rules(default_rules()), "optimizer")
    return task, target, optimizer


@pytest.fixture
def in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def app_for(tmp_path, task: str = CONTACTS, **kwargs) -> ReflectLoopApp:
    config = tui_config(task=task, dev_size=6, test_size=4)
    return ReflectLoopApp(config=config, session=tmp_path / "taskfile.session", injected=injected, **kwargs)


def column_labels(table: ErrorTable) -> list[str]:
    return [c.label.plain for c in table.columns.values()]


async def show_first_errors(pilot) -> ErrorTable:
    """Step 0 accepted and done, then the first error table opened (no message_hook: snapshots have none)."""
    screen = loop_screen(pilot.app)
    await past_step0(pilot)
    message = next(m for m in screen.query(EvaluationMessage) if m.evaluation.errors)
    message.toggle()
    table = await wait_for(pilot, lambda: message.query(ErrorTable).first() if message.query(ErrorTable) else None,
                           what="the error table")
    message.scroll_visible(animate=False, top=True)
    await pilot.pause()
    return table


# ---------------------------------------------------------------- Pilot
async def test_a_typed_task_file_opens_with_score_and_feedback_columns(tmp_path, in_root):
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(dev_size=6, test_size=4), injected=injected)  # on the start screen
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        app.screen.query_one("#task", Input).value = CONTACTS
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: hook.of(RunOpened), what="the run to open")
        table = await show_first_errors(pilot)
        assert column_labels(table) == ["#", "input", "gold", "output", "answer", "score", "feedback"]
        # Per-field partial credit: each row's score is its right fields of 4, as its feedback says.
        for k in range(table.row_count):
            score, feedback = (cell.plain for cell in table.get_row_at(k)[5:])
            right = round(float(score) * 4)
            assert 0 < right < 4 and feedback.startswith(f"{right} of 4 fields right")
        detail = plain(table.parent.query_one(".error-detail"))
        assert "feedback: " in detail and "wrong: name (expected " in detail  # in full below the table
        await app.action_quit()
    assert hook.of(RunRequested)[0].config.task == CONTACTS


async def test_the_task_files_warnings_show_when_the_run_opens(tmp_path):
    rows = [{"id": f"r{i}", "q": f"question {i}", "extra": "x", "a": str(i)} for i in range(24)]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "task.toml").write_text(textwrap.dedent("""
        prompts = ["Answer."]
        [data]
        path = "rows.jsonl"
        inputs = ["q", "extra"]
        target = "a"
        id = "id"
        [messages]
        system = "{prompt}"
        user = "{q}"
        [output]
        kind = "raw"
        [metric]
        kind = "exact"
    """))
    spec = f"file:{tmp_path / 'task.toml'}"
    hook = Recorder()
    async with app_for(tmp_path, spec, autostart=True).run_test(size=SIZE, message_hook=hook) as pilot:
        notes = await wait_for(pilot, lambda: [n for n in hook.of(NoteArrived) if "task file" in n.text],
                               what="the task file's warning")
        assert len(notes) == 1 and "extra" in notes[0].text
        await pilot.app.action_quit()


async def test_save_writes_the_best_prompt_in_the_suffixes_format(tmp_path, in_root):
    hook = Recorder()
    app = app_for(tmp_path, autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await wait_open(pilot, "candidate", what="the initial prompts")  # they take the focus when they come
        await submit(pilot, f"/save {tmp_path / 'early.txt'}")
        await pilot.press("escape")  # back to the cards
        await finish_step0(pilot, hook)
        await submit(pilot, f"/save {tmp_path / 'best.json'}")
        await submit(pilot, f"/save {tmp_path / 'best.py'}")
        await submit(pilot, f"/save {tmp_path / 'no such dir' / 'best.txt'}")
        said = [plain(line) for line in loop_screen(app).query(SystemLine)]
        await app.action_quit()
    saved = json.loads((tmp_path / "best.json").read_text())
    system = saved["messages"][0]
    assert system["role"] == "system" and system["content"].startswith(saved["prompt"])
    assert saved["fields"] == ["message"] and saved["step"] == 0
    assert "MESSAGES = [" in (tmp_path / "best.py").read_text()
    assert not (tmp_path / "early.txt").exists()
    assert any("no finished step yet" in s or "no session yet" in s for s in said)
    assert any(f"written to {tmp_path / 'best.json'} as json" in s for s in said)
    assert any(s.startswith(f"cannot write {tmp_path / 'no such dir' / 'best.txt'}") for s in said)


async def test_a_failed_judge_shows_its_reply_literally():
    hostile = "[bold]VERDICT[/bold] maybe"
    ev = Evaluation("p1", "dev", (
        ExampleResult("a", "out a", "out a", False, True, score=0.25, feedback="[red]too short[/red]"),
        ExampleResult("b", "out b", "out b", False, True, errored="the judge's verdict could not be parsed",
                      feedback=hostile),
        ExampleResult("c", "out c", "out c", True, True, score=1.0),
    ))
    examples = {i: Example(i, f"input {i}", (f"gold {i}",)) for i in "abc"}

    class Host(App):
        def compose(self):
            yield EvaluationMessage(0, ev, None, examples, expanded=True)

    async with Host().run_test(size=SIZE) as pilot:
        table = pilot.app.query_one(ErrorTable)
        rows = [[cell.plain for cell in table.get_row_at(k)] for k in range(table.row_count)]
        assert [r[0] for r in rows] == ["1", "2"]  # the error, then the failed example; the right one is not shown
        assert rows[0][5:] == ["0.25", "[red]too short[/red]"]
        assert rows[1][5:] == ["failed", hostile]
        assert all(isinstance(cell, Text) for cell in table.get_row_at(1))
        table.move_cursor(row=1)
        await pilot.pause()
        detail = plain(pilot.app.query_one(".error-detail"))
        assert "scoring failed: the judge's verdict could not be parsed" in detail and f"reply: {hostile}" in detail


# -------------------------------------------------------------- snapshot
def test_loop_screen_on_a_task_file_shows_score_and_feedback(snap_compare, tmp_path, in_root):
    app = app_for(tmp_path, autostart=True)

    async def to_the_error_table(pilot):
        await show_first_errors(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=to_the_error_table)
