"""Annotation in the TUI, through Pilot with scripted models and real session
files: labels and rationale on a card, the annotator on every decision, undo
(a superseding record, also across a resume), bulk decisions, an explicit
Done (own text after the last card), the jump to the next undecided card, the
count of what is left, collapsed closed groups, a pending reflection taken
back, the session's totals after a reopen, and a packet annotated blind.

Assertions are on the app's own messages (``message_hook``), its state and
the session file; ``wait_for`` only bounds how long to wait.
"""
from __future__ import annotations

import pytest

from reflectloop.core.review import AutoReviewer
from reflectloop.sessions.decisions import current_decisions, decision_log
from reflectloop.sessions.packets import PacketReview, assign
from reflectloop.sessions.service import open_run
from reflectloop.sessions.store import SessionStore
from tests.tui_fixtures import (  # noqa: F401  (quiet_terminal: an autouse fixture)
    INIT,
    SIZE,
    Injector,
    Recorder,
    default_rules,
    finish_step0,
    loop_screen,
    plain,
    quiet_terminal,
    submit,
    tui_config,
    wait_for,
    wait_open,
)
from reflectloop.tui.app import ReflectLoopApp
from reflectloop.tui.messages import DecisionArrived, QueuedReflectionUsed, ReviewRequested, RunOpened, StepFinished
from reflectloop.tui.screens.packet import PacketScreen
from reflectloop.tui.widgets.review import PendingReflection, ProposalCard, ReviewGroup


def group_of(card: ProposalCard) -> ReviewGroup:
    return next(a for a in card.ancestors if isinstance(a, ReviewGroup))


async def to_step1_feedback(pilot, hook):
    await finish_step0(pilot, hook)
    await submit(pilot, "/next")
    return await wait_open(pilot, "feedback")


async def test_labels_rationale_and_annotator_go_with_the_decision(tmp_path):
    hook = Recorder()
    session = tmp_path / "labels.session"
    app = ReflectLoopApp(config=tui_config(annotator="alice"), session=session, injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        feedback = await to_step1_feedback(pilot, hook)
        card = feedback[0]
        assert app.focused is card
        assert [x.id for x in card.labels] == ["grounded", "plausible_cause", "actionable", "generic", "wrong"]
        await pilot.press("1", "3", "5", "5")  # 5 twice: ticked and unticked again
        assert card.label_ids == ("grounded", "actionable")
        await pilot.press("enter")  # a one-line input on the card for the rationale
        line = card.query_one(".card-rationale")
        assert app.focused is line
        await pilot.press(*"names the digits", "enter")
        assert app.focused is card and card.rationale == "names the digits"
        assert "why: names the digits" in plain(card.query_one(".card-labels"))
        await pilot.press("enter", *" and more", "escape")  # escape: the rationale stays as it was
        assert app.focused is card and card.rationale == "names the digits"
        await pilot.press("a")
        await wait_for(pilot, lambda: any(m.decision.proposal_id == card.proposal.id for m in hook.of(DecisionArrived)),
                       what="the decision through the seam")
        await pilot.press("escape", "q")
    with SessionStore.open(session, read_only=True) as store:
        log = decision_log(store)
    mine = [d for d in log if d.proposal_id == card.proposal.id]
    assert [(d.kind, d.labels, d.rationale, d.annotator, d.by) for d in mine] == [
        ("accept", ("grounded", "actionable"), "names the digits", "alice", "human")]
    assert {d.annotator for d in log if d.by == "human" and d.kind != "add"} == {"alice"}


async def test_a_rubric_file_sets_the_labels_and_a_bad_one_is_reported(tmp_path):
    rubric = tmp_path / "rubric.toml"
    rubric.write_text('name = "mine"\n[[label]]\nid = "vague"\ntext = "too vague"\nkinds = ["candidate"]\nkey = "v"\n')
    app = ReflectLoopApp(config=tui_config(rubric=str(rubric)), session=tmp_path / "r.session", injected=Injector(),
                         autostart=True)
    async with app.run_test(size=SIZE) as pilot:
        cards = await wait_open(pilot, "candidate")
        assert [x.id for x in cards[0].labels] == ["vague"]
        await pilot.press("v", "a")
        await wait_for(pilot, lambda: cards[0].decision is not None, what="the decision")
        assert cards[0].decision.labels == ("vague",)
        await pilot.press("escape", "q")
    rubric.write_text("name = 'broken'\n")
    app = ReflectLoopApp(config=tui_config(rubric=str(rubric)), session=tmp_path / "b.session", injected=Injector(),
                         autostart=True)
    async with app.run_test(size=SIZE) as pilot:
        cards = await wait_open(pilot, "candidate")
        screen = loop_screen(app)
        errors = [plain(w) for w in screen.query(".system.-error")]
        assert any("needs at least one [[label]] table" in e for e in errors)
        assert cards[0].labels == ()  # no labels offered, deciding still works
        await pilot.press("a")
        await wait_for(pilot, lambda: cards[0].decision is not None, what="the decision")
        await pilot.press("escape", "q")


async def test_undo_reopens_the_card_and_is_recorded_not_erased(tmp_path):
    hook = Recorder()
    session = tmp_path / "undo.session"
    app = ReflectLoopApp(config=tui_config(annotator="alice"), session=session, injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        feedback = await to_step1_feedback(pilot, hook)
        await pilot.press("2", "a")
        assert feedback[0].decision.kind == "accept"
        await pilot.press("u")
        assert feedback[0].decision is None and feedback[0].is_open and app.focused is feedback[0]
        assert feedback[0].label_ids == ("plausible_cause",)  # kept for the new decision
        assert "undone" in plain(loop_screen(app).query(".system").last())
        await pilot.press("r")
        await wait_for(pilot, lambda: [m for m in hook.of(DecisionArrived) if m.decision.kind == "reject"],
                       what="the new decision")
        await submit(pilot, "/undo")
        assert feedback[0].decision is None
        await submit(pilot, "/undo")  # nothing older in this sitting that is still open
        assert "nothing to undo" in plain(loop_screen(app).query(".system").last())
        await pilot.press("escape", "q")  # quit with it undecided
    pid = feedback[0].proposal.id
    with SessionStore.open(session, read_only=True) as store:
        kinds = [d.kind for d in decision_log(store) if d.proposal_id == pid]
        assert kinds == ["accept", "undo", "reject", "undo"]  # every record kept, in order
        assert pid not in current_decisions(store)

    # Resumed: the undone card is asked again (resume replays only decisions that stand).
    hook2 = Recorder()
    app2 = ReflectLoopApp(config=tui_config(annotator="alice"), session=session, injected=Injector())
    async with app2.run_test(size=SIZE, message_hook=hook2) as pilot:
        cards = await wait_open(pilot, "feedback", what="the resumed feedback review")
        assert pid in [c.proposal.id for c in cards]
        assert pid not in hook2.of(ReviewRequested)[0].known
        await pilot.press("escape", "q")


async def test_accept_parsed_and_reject_unparsed(tmp_path):
    # The second initial prompt comes back without its tags: a parse failure shown on its card.
    rules = default_rules(**{INIT: lambda text, p: "<START>Answer.<END>" if p.sample == 0 else "Answer HALF."})
    hook = Recorder()
    session = tmp_path / "bulk.session"
    app = ReflectLoopApp(config=tui_config(steps=3), session=session, injected=Injector(rules), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        cards = await wait_open(pilot, "candidate")
        parsed = [c for c in cards if not c.proposal.parse_error]
        unparsed = [c for c in cards if c.proposal.parse_error]
        assert len(parsed) == 1 and len(unparsed) == 1
        await submit(pilot, "/accept nonsense")
        assert "/accept parsed|rest" in plain(loop_screen(app).query(".system").last())
        await submit(pilot, "/reject unparsed")
        assert unparsed[0].decision.kind == "reject" and parsed[0].decision is None
        await submit(pilot, "/accept parsed")
        assert parsed[0].decision.kind == "accept"
        assert "all decided" in plain(loop_screen(app).query(".system").last())
        await submit(pilot, "/done")
        await wait_for(pilot, lambda: hook.of(StepFinished), what="step 0")
        await submit(pilot, "/next")
        feedback = await wait_open(pilot, "feedback")
        feedback[1].focus()
        await pilot.press("r")
        await submit(pilot, "/accept rest")
        assert [c.decision.kind for c in feedback] == ["accept", "reject", "accept"]
        await pilot.press("escape", "q")
    with SessionStore.open(session, read_only=True) as store:
        decided = current_decisions(store)
    assert decided[unparsed[0].proposal.id].kind == "reject" and decided[parsed[0].proposal.id].kind == "accept"
    assert {decided[c.proposal.id].by for c in feedback} == {"human"}


async def test_done_lets_own_feedback_follow_the_last_decision(tmp_path):
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "done.session", injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        feedback = await to_step1_feedback(pilot, hook)
        for card in feedback:
            card.focus()
            await pilot.press("a")
        screen = loop_screen(app)
        group = group_of(feedback[0])
        (review,) = screen.desk.reviews
        assert not review.future.done() and group.is_open  # every card decided, still open
        assert app.focused is group.done_button and "d (Done)" in plain(group.query_one(".group-count"))
        await submit(pilot, "and it never reads the second number")  # after the last decision
        assert review.added == ["and it never reads the second number"]
        group.done_button.focus()
        await pilot.press("d")
        assert review.future.done() and review.future.result().added == ("and it never reads the second number",)
        assert group.has_class("-collapsed") and not group.is_open
        await wait_for(pilot, lambda: [m for m in hook.of(ReviewRequested) if m.request.kind == "candidate"
                                       and m.request.step == 1], what="the candidates")
        await pilot.press("escape", "q")
    human = [m.decision for m in hook.of(DecisionArrived) if m.decision.kind == "add"]
    assert [d.text for d in human] == ["and it never reads the second number"]


async def test_next_undecided_and_the_count_of_what_is_left(tmp_path):
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "nav.session", injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        feedback = await to_step1_feedback(pilot, hook)
        screen = loop_screen(app)
        assert screen.status.left == 3 and "3 card(s) left" in plain(screen.status)
        feedback[1].focus()
        await pilot.press("a")  # the second first
        count = group_of(feedback[0]).query_one(".group-count")
        assert screen.status.left == 2 and "1 of 3 decided · 2 left" in plain(count)
        assert app.focused is feedback[2]
        await pilot.press("n")  # after the third comes the first again (the second is decided)
        assert app.focused is feedback[0]
        await pilot.press("n")
        assert app.focused is feedback[2]
        await pilot.press("r", "a")
        assert screen.status.left == 0 and "all decided" in plain(screen.status)
        await pilot.press("n")  # nothing undecided: to the Done button, not the next step
        (review,) = screen.desk.reviews
        assert app.focused is group_of(feedback[0]).done_button and not review.future.done()
        await submit(pilot, "/next")  # moving on closes the review whose cards are all decided
        assert review.future.done() and review not in screen.desk.reviews
        await wait_open(pilot, "candidate", what="the step going on to its candidates")
        await pilot.press("escape", "q")


async def test_a_pending_reflection_is_shown_and_can_be_withdrawn(tmp_path):
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(steps=3), session=tmp_path / "pending.session", injected=Injector(),
                         autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await finish_step0(pilot, hook)
        screen = loop_screen(app)
        await submit(pilot, "next")  # a mistyped /next
        (line,) = screen.query(PendingReflection)
        assert line.state == "pending" and "/withdraw" in plain(line) and screen.status.pending == 1
        await submit(pilot, "/withdraw")
        assert screen.reviewer.queued == [] and line.state == "withdrawn" and screen.status.pending == 0
        await submit(pilot, "/withdraw")
        assert "nothing to withdraw" in plain(screen.query(".system").last())
        await submit(pilot, "it ignores the number")
        await submit(pilot, "/next")
        await wait_open(pilot, "feedback")
        kept = [w for w in screen.query(PendingReflection) if w.state == "used"]
        assert [w.text for w in kept] == ["it ignores the number"] and screen.status.pending == 0
        await pilot.press("escape", "q")
    assert [m.texts for m in hook.of(QueuedReflectionUsed)] == [("it ignores the number",)]


async def test_the_status_bar_shows_the_session_totals_after_a_reopen(tmp_path):
    session = await auto_run(tmp_path / "totals.session", 1)
    with SessionStore.open(session, read_only=True) as store:
        paid = [c for c in store.calls() if c.usage is not None and not c.cached and c.error is None]
    tokens = {role: sum(c.usage.prompt_tokens + c.usage.completion_tokens for c in paid if c.role == role)
              for role in ("target", "optimizer")}
    assert tokens["target"] > 0 and tokens["optimizer"] > 0

    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=session, injected=Injector())
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await wait_for(pilot, lambda: hook.of(RunOpened), what="the session to open")
        status = loop_screen(app).status
        await wait_for(pilot, lambda: status.models["target"].tokens, what="the status bar's counters")
        assert {r: status.models[r].tokens for r in tokens} == tokens
        assert sum(m.calls for m in status.models.values()) == len(paid)
        assert f"tokens {sum(tokens.values()):,} · calls {len(paid)}" in plain(status)
        await pilot.press("escape", "q")


async def auto_run(path, steps: int):
    """A source session of ``steps`` steps, decided by the auto-reviewer."""
    run = open_run(tui_config(), AutoReviewer(), session=path, injected=Injector())
    await run.drive(steps)
    await run.close()
    return path


async def test_a_packet_is_annotated_blind(tmp_path):
    source = await auto_run(tmp_path / "src.session", 2)
    ann, _bob = assign(source, ["ann", "bob"], tmp_path / "packets")
    with PacketReview.open(ann) as review:
        sets = review.error_sets
        feedback_sets = [es for es in sets if es.has_feedback]
        assert feedback_sets and all(not es.has_feedback for es in sets if es.step == 0)
        llm_feedback = {p.id for es in feedback_sets for p in es.proposals}

    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(annotator="someone-else"), session=ann)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        screen = await wait_for(pilot, lambda: isinstance(app.screen, PacketScreen) and app.screen.sets
                                and app.screen, what="the packet screen")
        shown = {c.proposal.id for c in screen.query(ProposalCard)}
        assert not shown & llm_feedback  # nothing of the LLM's text of a set with feedback before the reflection
        assert any("recorded as ann" in plain(w) for w in screen.query(".system"))
        target = screen.waiting_set()
        assert target is not None and target.es.key == feedback_sets[0].key and not target.cards()
        await submit(pilot, "the prompt never says to read the number", screen)
        cards = target.cards()
        assert cards and {c.proposal.id for c in cards} == {p.id for p in target.es.proposals}
        first = next(c for c in cards if c.proposal.kind == "feedback")
        first.focus()
        await pilot.press("1", "a")
        assert first.decision.labels == ("grounded",) and first.decision.annotator == "ann"
        await pilot.press("u")
        assert first.decision is None and first.is_open
        await pilot.press("r")
        left = screen.review.remaining()
        await submit(pilot, "/accept rest", screen)
        assert screen.review.remaining() == 0 < left
        await pilot.press("escape", "q")
    with SessionStore.open(ann, read_only=True) as store:
        log = decision_log(store)
        reflections = [p for p in store.proposals() if p.author == "human"]
    assert [p.text for p in reflections] == ["the prompt never says to read the number"]
    assert {d.annotator for d in log} == {"ann"}
    mine = [d.kind for d in log if d.proposal_id == first.proposal.id]
    assert mine == ["accept", "undo", "reject"]
    with pytest.raises(ValueError, match="annotation packet .* runs no model; annotate it with reflectloop tui"):
        open_run(None, AutoReviewer(), session=ann)  # a packet is never stepped

