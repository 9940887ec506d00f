"""The TUI driven through Pilot with scripted models and real session files.

Every test asserts on the app's own messages (``message_hook``) and state:
reviews, edits, rejections, the person's own texts, blind mode, resuming a
half-reviewed step, literal display of hostile text, commands and the start
screen.  No timing assertions: ``wait_for`` only bounds how long to wait.
"""
from __future__ import annotations

import json

from rich.text import Text
from textual.widgets import Button, TextArea

from reflectloop.sessions.store import SessionStore
from tests.tui_fixtures import (  # noqa: F401  (quiet_terminal: an autouse fixture)
    REFINE,
    REFLECT,
    SIZE,
    Injector,
    Recorder,
    default_rules,
    finish_step0,
    loop_screen,
    open_cards,
    plain,
    quiet_terminal,
    submit,
    tui_config,
    wait_for,
    wait_open,
)
from reflectloop.tui.app import ReflectLoopApp
from reflectloop.tui.messages import (
    DecisionArrived,
    ProposalArrived,
    QueuedReflectionUsed,
    ReflectRequested,
    ReviewRequested,
    RunFailed,
    RunIdle,
    RunOpened,
    StepFinished,
)
from reflectloop.tui.screens.edit import EditScreen
from reflectloop.tui.screens.loop import LoopScreen
from reflectloop.tui.screens.start import StartScreen
from reflectloop.tui.widgets.review import ProposalCard, ReviewGroup
from reflectloop.tui.widgets.scores import ScoresPanel
from reflectloop.tui.widgets.start import SessionList
from reflectloop.tui.widgets.text import clean, word_diff
from reflectloop.tui.widgets.transcript import StepSummary, UserLine

# ------------------------------------------------------------------ tests
async def test_start_screen_defaults_start_with_one_key():
    from reflectloop.core.settings import paths

    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), injected=Injector())
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        assert isinstance(app.screen, StartScreen)
        tasks = app.screen.query_one("#task-list").specs
        assert {"gen:navigate", "gen:object_counting"} <= set(tasks)
        await pilot.press("enter")  # the Start button has the focus
        await wait_open(pilot, "candidate")
        screen = loop_screen(app)
        assert screen.config.task == "toy" and screen.config.method == "apo"
        assert screen.session_path.parent == paths.sessions_dir() and screen.session_path.exists()
        await pilot.press("q")
    assert hook.of(RunOpened)[0].resumed is False


async def test_a_whole_step_accept_edit_reject(tmp_path):
    hook = Recorder()
    injector = Injector()
    session = tmp_path / "whole.session"
    app = ReflectLoopApp(config=tui_config(), session=session, injected=injector, autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await finish_step0(pilot, hook)
        await submit(pilot, "/next")
        feedback = await wait_open(pilot, "feedback")
        assert [c.proposal.text for c in feedback] == ["it ignores the number", "too vague", "no format"]
        # The error set the optimizer saw is shown with the feedback.
        group = feedback[0].parent.parent
        assert isinstance(group, ReviewGroup) and group.errors
        assert app.focused is feedback[0]
        await pilot.press("a")  # accept the first
        await pilot.pause()
        assert app.focused is feedback[1]
        await pilot.press("e")  # edit the second in the modal
        await wait_for(pilot, lambda: isinstance(app.screen, EditScreen), what="the edit modal")
        area = app.screen.query_one(TextArea)
        assert area.text == "too vague"
        area.text = "it never reads the digits in the question"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: feedback[1].decision is not None, what="the edit")
        await pilot.press("r")  # reject the third
        await pilot.press("d")  # done with the feedback
        candidates = await wait_open(pilot, "candidate")
        # Candidates show a word diff against their parent.
        body = plain(candidates[0].query_one(".card-body"))
        assert "Answer" in body and "GOOD." in body
        accept = next(b for b in candidates[0].query(Button) if b.name == "accept")
        await pilot.click(accept)  # the mouse works too
        await pilot.pause()
        await pilot.press("r", "d")
        await wait_for(pilot, lambda: hook.of(StepFinished)[1:], what="step 1")
        record = hook.of(StepFinished)[1].record
        assert record.dev_best == 1.0
        await pilot.press("escape", "q")
    assert any("- it never reads the digits in the question" in p and "too vague" not in p and "no format" not in p
               for p in injector.optimizer_prompts if REFINE in p)
    with SessionStore.open(session, read_only=True) as store:
        decisions = store.decisions()
        proposals = {p.id: p for p in store.proposals()}
        prompts = store.prompts()
    edit = decisions["s1/s0/task/candidate/1/feedback/1"]
    assert (edit.kind, edit.text, edit.by) == ("edit", "it never reads the digits in the question", "human")
    assert proposals[edit.proposal_id].text == "too vague"  # the original stays beside the edit
    assert decisions["s1/s0/task/candidate/1/feedback/2"].kind == "reject"
    kept = [p for p in prompts.values() if p.step == 1]
    assert [p.instruction for p in kept] == ["Answer GOOD."]
    # Every decided card collapsed to show its decision.
    kinds = [m.request.kind for m in hook.of(ReviewRequested)]
    assert kinds == ["candidate", "feedback", "candidate"]


async def test_own_reflection_through_the_input_line(tmp_path):
    hook = Recorder()
    refine = lambda text, _: "<START>Careful GOOD.<END>" if "count carefully" in text else "<START>Answer HALF again.<END>"
    injector = Injector(default_rules(**{REFINE: refine}))
    app = ReflectLoopApp(config=tui_config(per_parent=1), session=tmp_path / "own.session", injected=injector,
                         autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await finish_step0(pilot, hook)
        await submit(pilot, "/next")
        feedback = await wait_open(pilot, "feedback")
        await submit(pilot, "count carefully, digit by digit")  # added while the feedback review is open
        group = feedback[0].parent.parent
        assert "count carefully" in plain(group.query_one(".own-text"))
        for card in feedback:
            card.focus()
            await pilot.press("a")
            await pilot.pause()
        await pilot.press("d")
        # The person's reflection is refined by the same step, separately from the LLM's:
        # first the candidates from the LLM's feedback, then those from yours.
        for n in (2, 3):
            await wait_for(pilot, lambda: len([m for m in hook.of(ReviewRequested) if m.request.kind == "candidate"]) == n,
                           what=f"candidate review {n - 1} of step 1")
            for card in await wait_open(pilot, "candidate"):
                card.focus()
                await pilot.press("a")
                await pilot.pause()
            await pilot.press("d")
        await wait_for(pilot, lambda: hook.of(StepFinished)[1:], what="step 1")
        await pilot.press("escape", "q")
    human = [m.proposal for m in hook.of(ProposalArrived) if m.proposal.author == "human"]
    assert [(p.kind, p.text) for p in human] == [("feedback", "count carefully, digit by digit")]
    adds = [m.decision for m in hook.of(DecisionArrived) if m.decision.kind == "add"]
    assert [d.proposal_id for d in adds] == [human[0].id]
    hf = [m.request for m in hook.of(ReviewRequested) if m.request.kind == "candidate" and m.request.step == 1][1]
    assert [p.text for p in hf.proposals] == ["Careful GOOD."] and "/hf" in hf.proposals[0].id


async def test_own_candidate_added_while_the_candidate_review_is_open(tmp_path):
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "cand.session", injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await wait_open(pilot, "candidate")
        await submit(pilot, "My own GOOD prompt")
        for card in open_cards(app):
            card.focus()
            await pilot.press("r" if card.proposal.text == "Answer." else "a")
            await pilot.pause()
        await pilot.press("d")
        await wait_for(pilot, lambda: hook.of(StepFinished), what="step 0")
        await pilot.press("escape", "q")
    record = hook.of(StepFinished)[0].record
    beam = hook.of(StepFinished)[0].beam
    assert record.dev_best == 1.0 and beam[0].instruction == "My own GOOD prompt" and beam[0].origin == "human"


async def test_blind_mode_asks_before_any_feedback_exists(tmp_path):
    hook = Recorder()
    injector = Injector()
    seen = {}

    def watch(message):
        hook(message)
        if isinstance(message, ReflectRequested) and "at_request" not in seen:
            seen["at_request"] = (
                [p for p in injector.optimizer_prompts if REFLECT in p],
                [m for m in hook.messages if isinstance(m, ProposalArrived) and m.proposal.kind == "feedback"],
            )

    # Blind from the start: a run switched to blind only after a step's end may have asked the
    # LLM's next reflection already (read ahead during that step's test evaluation, unseen).
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "blind.session", injected=injector, autostart=True,
                         blind=True)
    async with app.run_test(size=SIZE, message_hook=watch) as pilot:
        await finish_step0(pilot, hook)
        assert loop_screen(app).reviewer.blind
        await submit(pilot, "/next")
        await wait_for(pilot, lambda: hook.of(ReflectRequested), what="the request for your reflection")
        screen = loop_screen(app)
        assert not [c for c in screen.query(ProposalCard) if c.proposal.kind == "feedback"]
        assert app.focused is screen.command_line
        await submit(pilot, "the prompt never says to read the number")
        feedback = await wait_open(pilot, "feedback")
        assert [c.proposal.author for c in feedback] == ["llm"] * 3
        await pilot.press("escape", "q")
    asked_llm, feedback_cards = seen["at_request"]
    assert asked_llm == [] and feedback_cards == []  # nothing of the LLM's reflection existed yet
    request = hook.of(ReflectRequested)[0].request
    assert request.step == 1 and request.errors


async def test_resume_after_quit_mid_review(tmp_path):
    session = tmp_path / "resume.session"
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=session, injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await finish_step0(pilot, hook)
        await submit(pilot, "/next")
        for card in await wait_open(pilot, "feedback"):
            card.focus()
            await pilot.press("a")
            await pilot.pause()
        await pilot.press("d")
        candidates = await wait_open(pilot, "candidate")
        candidates[0].focus()
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditScreen), what="the edit modal")
        app.screen.query_one(TextArea).text = "Answer GOOD, and mind the digits."
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: candidates[0].decision is not None, what="the edit")
        await pilot.press("q")  # quit with the second candidate undecided
    assert session.is_dir()
    with SessionStore.open(session) as store:  # the lock was released: a writer can open it
        recorded = store.decisions()
        assert recorded["s1/s0/task/candidate/1/candidate/0"].text == "Answer GOOD, and mind the digits."
        assert "s1/s0/task/candidate/1/candidate/1" not in recorded

    hook2 = Recorder()
    app2 = ReflectLoopApp(config=tui_config(), session=session, injected=Injector())
    async with app2.run_test(size=SIZE, message_hook=hook2) as pilot:
        cards = await wait_open(pilot, "candidate", what="the undecided candidate")
        assert [c.proposal.id for c in cards] == ["s1/s0/task/candidate/1/candidate/1"]
        requests = hook2.of(ReviewRequested)
        assert [r.request.kind for r in requests] == ["candidate"]  # the feedback is not asked again
        assert set(requests[0].known) == {"s1/s0/task/candidate/1/candidate/0"}
        decided = [c for c in app2.screen.query(ProposalCard) if c.proposal.id.endswith("candidate/0")][0]
        assert decided.decision.kind == "edit" and decided.recorded
        assert app2.screen.query(StepSummary)  # the step done before is shown
        await pilot.press("r", "d")
        await wait_for(pilot, lambda: hook2.of(StepFinished), what="the resumed step")
        record = hook2.of(StepFinished)[0].record
        await pilot.press("escape", "q")
    assert hook2.of(RunOpened)[0].resumed and hook2.of(RunOpened)[0].mid_step
    assert record.step == 1
    with SessionStore.open(session, read_only=True) as store:
        prompts = [p for p in store.prompts().values() if p.step == 1]
        assert [(p.instruction, p.origin) for p in prompts] == [("Answer GOOD, and mind the digits.", "edited")]
        assert len(store.steps()) == 2


HOSTILE = "[bold]x [/foo] \x1b[31mred\x1b[0m [/] [link=http://e.x]y[/link] \r\x07 end"


async def test_hostile_text_is_shown_literally(tmp_path):
    rules = default_rules(**{
        REFLECT: f"<START>{HOSTILE}<END>",
        REFINE: "<START>[b]Answer GOOD[/b] \x1b[2J<END><START>[/]<END>",
    })
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "hostile.session", injected=Injector(rules),
                         autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await finish_step0(pilot, hook)
        await submit(pilot, "/next")
        feedback = await wait_open(pilot, "feedback")
        body = plain(feedback[0].query_one(".card-body"))
        assert body == clean(HOSTILE)
        assert "[bold]x [/foo] ␛[31mred␛[0m [/] [link=http://e.x]y[/link]" in body
        assert "\x1b" not in body and "\r" not in body
        svg = app.export_screenshot()  # while the card is open (a closed group collapses)
        assert "[/foo]" in svg and "\x1b" not in svg
        await submit(pilot, "[/bold] my [red]own[/] \x1b[1m")  # the person's text is literal too
        assert "[red]own[/]" in plain(app.screen.query(UserLine).last())
        await pilot.press("escape", "a", "d")
        candidates = await wait_open(pilot, "candidate")
        diff = candidates[0].query_one(".card-body").render()
        assert "[b]Answer" in diff.plain and "GOOD[/b] ␛[2J" in diff.plain  # a word diff against "Answer HALF."
        svg = app.export_screenshot()
        assert "[b]Answer" in svg and "\x1b" not in svg
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditScreen), what="the edit modal")
        assert app.screen.query_one(TextArea).text == "[/]"
        await pilot.press("escape")
        await pilot.press("a", "d")
        # The person's own feedback (added above) gets its own candidates: accept them too.
        await wait_for(pilot, lambda: len(hook.of(ReviewRequested)) == 4, what="candidates from your feedback")
        for card in await wait_open(pilot, "candidate"):
            card.focus()
            await pilot.press("a")
            await pilot.pause()
        await pilot.press("d")
        await wait_for(pilot, lambda: hook.of(StepFinished)[1:], what="step 1")
        await pilot.press("escape", "q")
    human = [m.proposal for m in hook.of(ProposalArrived) if m.proposal.author == "human"]
    assert [p.text for p in human] == ["[/bold] my [red]own[/] \x1b[1m"]  # stored as typed


def test_word_diff_marks_changes_with_styles_not_markup():
    diff = word_diff("Answer the [b]question[/b].", "Answer each [b]question[/b] carefully.")
    assert diff.plain.startswith("Answer the each [b]question[/b].")
    styles = {str(span.style) for span in diff.spans}
    assert styles == {"strike red", "bold green"}
    assert clean("a\x1b[31mb\x00c\td\ne\u202e") == "a␛[31mb␀c\td\ne\ufffd"


async def test_auto_accepts_the_rest(tmp_path):
    hook = Recorder()
    session = tmp_path / "auto.session"
    app = ReflectLoopApp(config=tui_config(steps=3), session=session, injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await wait_open(pilot, "candidate")
        await submit(pilot, "/auto")
        await wait_for(pilot, lambda: len(hook.of(StepFinished)) == 3, what="all three steps")
        await wait_for(pilot, lambda: hook.of(RunIdle), what="the loop to stop")
        assert hook.of(RunIdle)[-1].reason == "finished"
        await pilot.press("q")
    assert len(hook.of(ReviewRequested)) == 1  # only the one open when /auto was typed
    with SessionStore.open(session, read_only=True) as store:
        assert {d.by for d in store.decisions().values()} == {"auto"}


async def test_keys_are_remappable_by_binding_id(tmp_path):
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "keys.session", injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        app.set_keymap({"accept": "y", "reject": "x"})
        cards = await wait_open(pilot, "candidate")
        await pilot.press("a")  # no longer bound
        await pilot.pause()
        assert cards[0].decision is None
        await pilot.press("y")
        await pilot.pause()
        await pilot.press("x", "d")
        await wait_for(pilot, lambda: hook.of(StepFinished), what="step 0")
        assert [c.decision.kind for c in cards] == ["accept", "reject"]
        await pilot.press("escape", "q")


async def test_step0_keeps_at_least_one_prompt(tmp_path):
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "keep.session", injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        cards = await wait_open(pilot, "candidate")
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("r")  # the last one: refused, the card stays open
        await pilot.pause()
        assert cards[1].decision is None and cards[1].is_open
        reviews = loop_screen(app).desk.reviews
        assert len(reviews) == 1 and not reviews[0].future.done()  # the review stays open
        await pilot.press("a", "d")
        await wait_for(pilot, lambda: hook.of(StepFinished), what="step 0")
        await pilot.press("escape", "q")


async def test_method_changes_before_step0_only(tmp_path):
    hook = Recorder()
    session = tmp_path / "method.session"
    app = ReflectLoopApp(config=tui_config(), session=session, injected=Injector(default_rules(**{
        "would score higher": lambda text, p: f"<INS>New {p.sample} GOOD</INS>"})))
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        screen = loop_screen(app)
        await submit(pilot, "/method nonsense")
        assert screen.config.method == "apo"
        await submit(pilot, "/method opro")
        assert screen.config.method == "opro" and not session.exists()
        await submit(pilot, "/next")
        for card in await wait_open(pilot, "candidate"):
            card.focus()
            await pilot.press("a")
            await pilot.pause()
        await pilot.press("d")
        await wait_for(pilot, lambda: hook.of(RunIdle), what="step 0")
        await submit(pilot, "/method apo")  # step 0 started: the method stays, a warning says so
        assert screen.config.method == "opro"
        await submit(pilot, "/method apo")  # again: a new session with apo
        await wait_for(pilot, lambda: len(hook.of(RunOpened)) == 2, what="the new session")
        new = loop_screen(app)
        assert new is not screen and new.config.method == "apo" and new.session_path != session
        await pilot.press("escape", "q")
    with SessionStore.open(session, read_only=True) as store:
        assert store.config["method"] == "opro" and len(store.steps()) == 1


async def test_help_export_scores_and_unknown_commands(tmp_path):
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "cmd.session", injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await finish_step0(pilot, hook)
        screen = loop_screen(app)
        await submit(pilot, "/help")
        assert "/run N" in plain(screen.query(".system").last())
        await submit(pilot, "/frobnicate")
        assert "unknown command /frobnicate" in plain(screen.query(".system").last())
        await submit(pilot, "/export")
        exported = tmp_path / "cmd.jsonl"
        await wait_for(pilot, exported.exists, what="the export")
        await wait_for(pilot, lambda: "written to" in plain(screen.query(".system").last()), what="the answer")
        assert "2 reviewed proposals written to" in plain(screen.query(".system").last())
        rows = [json.loads(line) for line in exported.read_text().splitlines()]
        assert {r["proposal_id"] for r in rows} == {"s0/task/candidate/0", "s0/task/candidate/1"}
        await submit(pilot, "/export xml")
        assert "/export jsonl" in plain(screen.query(".system").last())
        panel = screen.query_one(ScoresPanel)
        assert not panel.display
        await pilot.press("f2")
        assert panel.display and sorted(panel.records) == [0]
        await submit(pilot, "/scores")
        assert not panel.display
        await submit(pilot, "a reflection for later")
        assert screen.reviewer.queued == ["a reflection for later"]
        await submit(pilot, "/next")
        await wait_open(pilot, "feedback")
        assert screen.reviewer.queued == []
        await pilot.press("escape", "q")
    used = hook.of(QueuedReflectionUsed)
    assert [(m.step, m.texts) for m in used] == [(1, ("a reflection for later",))]


async def test_start_screen_lists_and_resumes_a_session(tmp_path):
    from reflectloop.core.review import AutoReviewer
    from reflectloop.core.settings import paths
    from reflectloop.sessions.service import open_run

    path = paths.sessions_dir() / "earlier.session"
    path.parent.mkdir(parents=True, exist_ok=True)
    run = open_run(tui_config(), AutoReviewer(), session=path, injected=Injector())
    await run.drive(1)
    await run.close()

    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), injected=Injector())
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        sessions = app.screen.query_one(SessionList)
        await wait_for(pilot, lambda: sessions.paths, what="the session list")
        assert list(sessions.paths.values()) == [path]
        prompt = sessions.get_option_at_index(0).prompt
        assert isinstance(prompt, Text) and "toy · apo · 1 steps" in prompt.plain
        sessions.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: hook.of(RunOpened), what="the session to open")
        opened = hook.of(RunOpened)[0]
        assert opened.resumed and not opened.mid_step and len(opened.records) == 1
        await wait_for(pilot, lambda: app.screen.query(StepSummary), what="the history")
        await pilot.press("escape", "q")


async def test_ctrl_c_mid_step_closes_the_session(tmp_path):
    session = tmp_path / "interrupt.session"
    app = ReflectLoopApp(config=tui_config(), session=session, injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_open(pilot, "candidate")
        await pilot.press("ctrl+c")
    assert app.return_code == 0
    with SessionStore.open(session) as store:  # not locked any more
        assert store.proposals() and not store.steps()


async def test_abo_demonstrations_are_cards_too(tmp_path):
    demo = 'Step 1: find the number in the question.\nStep 2: answer it. {"answer": "2"}'
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(method="abo", steps=1), session=tmp_path / "abo.session",
                         injected=Injector(default_rules(**{"Follow the instruction below strictly": demo})),
                         autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        for _ in await wait_open(pilot, "candidate"):
            await pilot.press("a")
            await pilot.pause()
        await pilot.press("d")
        demos = await wait_for(pilot, lambda: len(open_cards(app)) == 2 and open_cards(app), what="two demonstrations")
        assert {c.proposal.kind for c in demos} == {"demonstration"}
        assert {c.proposal.for_candidate for c in demos} == {"s0/task/candidate/0", "s0/task/candidate/1"}
        assert "Step 2: answer it." in plain(demos[0].query_one(".card-body"))
        await pilot.press("a")  # the focused (first) one
        await pilot.pause()
        await pilot.press("r", "d")
        await wait_for(pilot, lambda: hook.of(StepFinished), what="step 0")
        await pilot.press("escape", "q")
    kinds = [m.request.kind for m in hook.of(ReviewRequested)]
    assert kinds == ["candidate", "demonstration", "demonstration"]
    decided = {c.proposal.for_candidate: c.decision.kind for c in demos}
    with SessionStore.open(tmp_path / "abo.session", read_only=True) as store:
        stored = store.prompts()
    for pid, kind in decided.items():
        assert (stored[pid].demonstration is not None) == (kind == "accept")


async def test_a_failing_model_is_reported_and_the_session_kept(tmp_path):
    rules = default_rules()
    del rules[REFLECT]  # the scripted optimizer fails on the reflection of step 1
    hook = Recorder()
    session = tmp_path / "fails.session"
    app = ReflectLoopApp(config=tui_config(), session=session, injected=Injector(rules), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await finish_step0(pilot, hook)
        await submit(pilot, "/next")
        await wait_for(pilot, lambda: hook.of(RunFailed), what="the failure")
        screen = loop_screen(app)
        assert "no scripted answer" in hook.of(RunFailed)[0].error and screen.run is None
        assert "could not go on" in plain(screen.query(".system").last())
        await submit(pilot, "/help")  # still alive
        await pilot.press("escape", "q")
    with SessionStore.open(session) as store:
        assert len(store.steps()) == 1


async def test_audit_screen_opens_on_this_session(tmp_path):
    from reflectloop.tui.screens.audit import AuditScreen, AuditView

    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "audit.session", injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await finish_step0(pilot, hook)
        await submit(pilot, "/audit")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen) and app.screen, what="the audit screen")
        assert screen.query(AuditView)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, LoopScreen), what="back to the loop")
