"""Keys do what they say on the loop screen: a command typed or pasted on a
focused card reaches the input line whole and decides nothing; Escape only
leaves the input; after Done the focus is on a card or the transcript, never
in the input; the status bar says where the keys go.

"Typed fast" is a real burst: every key event is queued on the app before
the first is handled (``burst``), as a terminal delivers a paste-speed
typist's keys; ``pilot.press`` with all the keys in one call is tried too.
"""
from __future__ import annotations

import json

from textual import events
from textual.widgets import Button

from reflectloop.sessions.store import SessionStore
from tests.tui_fixtures import (  # noqa: F401  (quiet_terminal: an autouse fixture)
    SIZE,
    Injector,
    Recorder,
    finish_step0,
    loop_screen,
    plain,
    quiet_terminal,
    tui_config,
    wait_for,
    wait_open,
)
from reflectloop.tui.app import ReflectLoopApp
from reflectloop.tui.messages import DecisionChosen, EditRequested, ReviewRequested
from reflectloop.tui.screens.edit import EditScreen
from reflectloop.tui.widgets.review import ProposalCard
from reflectloop.tui.widgets.transcript import Transcript, UserLine

KEY_NAMES = {"/": "slash", " ": "space", ".": "full_stop", "\n": "enter"}


def key_event(char: str) -> events.Key:
    """The event a terminal sends for ``char`` (as Textual's own Pilot builds it)."""
    if char in KEY_NAMES:
        name = KEY_NAMES[char]
        return events.Key(name, None if name == "enter" else char)
    return events.Key(char, char)


def burst(app, text: str) -> None:
    """Queue a key event for every character of ``text`` at once: none is handled before the last is sent."""
    for char in text:
        app.post_message(key_event(char))


def paste(app, text: str, *then: str) -> None:
    """A terminal paste, and the keys ``then`` typed right after it, queued at once."""
    app.post_message(events.Paste(text))
    for char in then:
        app.post_message(key_event(char))


def step1_decisions(session) -> dict:
    with SessionStore.open(session, read_only=True) as store:
        return {pid: d for pid, d in store.decisions().items() if pid.startswith("s1/")}


async def at_the_feedback(pilot, hook: Recorder) -> list[ProposalCard]:
    """Step 0 done; step 1's feedback cards open, the first one focused."""
    await finish_step0(pilot, hook)
    await pilot.press("n")  # the focus is not in the input after Done: n is the next step
    cards = await wait_open(pilot, "feedback")
    await wait_for(pilot, lambda: pilot.app.focused is cards[0], what="the focus on the first card")
    return cards


def nothing_decided(hook: Recorder, cards: list[ProposalCard], session) -> None:
    assert not [m for m in hook.of(DecisionChosen) if m.decision.proposal_id.startswith("s1/")]
    assert not hook.of(EditRequested)
    assert all(c.decision is None and c.is_open for c in cards)
    assert step1_decisions(session) == {}


def test_key_event_is_what_pilot_sends():
    # The burst helper names the characters used here as Textual (and its Pilot) does.
    from textual.keys import _character_to_key

    for char, name in KEY_NAMES.items():
        if char != "\n":
            assert _character_to_key(char) == name


async def test_a_command_typed_in_one_burst_on_a_focused_card_runs_and_decides_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hook = Recorder()
    session = tmp_path / "burst.session"
    app = ReflectLoopApp(config=tui_config(), session=session, injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        cards = await at_the_feedback(pilot, hook)
        screen = loop_screen(app)
        burst(app, "/save x.json\n")
        await wait_for(pilot, (tmp_path / "x.json").exists, what="the command to write x.json")
        await wait_for(pilot, lambda: "written to" in plain(screen.query(".system").last()), what="the answer")
        assert [plain(u) for u in screen.query(UserLine)][-1] == "you › /save x.json"
        assert not isinstance(app.screen, EditScreen)
        nothing_decided(hook, cards, session)
        # The same with Pilot: every key in one call.
        await pilot.press(*"/save y.json", "enter")
        await wait_for(pilot, (tmp_path / "y.json").exists, what="the command to write y.json")
        nothing_decided(hook, cards, session)
        assert app.focused is screen.command_line and screen.command_line.value == ""
        await pilot.press("q")
    saved = json.loads((tmp_path / "x.json").read_text())
    assert saved == json.loads((tmp_path / "y.json").read_text()) and saved


async def test_a_command_pasted_on_a_focused_card_runs_and_decides_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hook = Recorder()
    session = tmp_path / "paste.session"
    app = ReflectLoopApp(config=tui_config(), session=session, injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        cards = await at_the_feedback(pilot, hook)
        screen = loop_screen(app)
        paste(app, "/save x.json")
        await wait_for(pilot, lambda: screen.command_line.value == "/save x.json", what="the paste in the input")
        assert app.focused is screen.command_line
        nothing_decided(hook, cards, session)
        # A paste and the Enter typed right after it.
        screen.command_line.value = ""
        cards[1].focus()
        await wait_for(pilot, lambda: app.focused is cards[1], what="the focus on the second card")
        paste(app, "/save x.json", "\n")
        await wait_for(pilot, (tmp_path / "x.json").exists, what="the command to write x.json")
        nothing_decided(hook, cards, session)
        await pilot.press("q")


async def test_a_paste_of_text_on_a_card_becomes_the_input_line_whole(tmp_path):
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "text.session", injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        cards = await wait_open(pilot, "candidate")
        screen = loop_screen(app)
        paste(app, "read every digit\nand answer")
        await wait_for(pilot, lambda: app.focused is screen.command_line, what="the input")
        assert screen.command_line.value == "read every digit and answer"
        assert all(c.decision is None for c in cards) and not hook.of(DecisionChosen)
        await pilot.press("escape", "q")


async def test_keys_that_are_not_the_cards_do_nothing_to_it(tmp_path):
    hook = Recorder()
    session = tmp_path / "other.session"
    app = ReflectLoopApp(config=tui_config(), session=session, injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        cards = await at_the_feedback(pilot, hook)
        burst(app, "xyz.,;!?")
        await pilot.pause()
        nothing_decided(hook, cards, session)
        assert app.focused is cards[0]
        await pilot.press("q")


async def test_escape_only_leaves_the_input(tmp_path):
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "esc.session", injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        cards = await at_the_feedback(pilot, hook)
        screen = loop_screen(app)
        line = screen.command_line
        await pilot.press("escape")  # on a card: it stays there
        assert app.focused is cards[0]
        cards[1].focus()
        await pilot.pause()
        await pilot.press("slash")  # the shown key into the input
        assert app.focused is line and line.value == "/"
        assert "keys → input" in plain(screen.status)
        await pilot.press("escape")  # back to the card it came from
        assert app.focused is cards[1]
        assert "keys → card 2/3" in plain(screen.status)
        await pilot.press("escape")  # and no further: never into the input
        assert app.focused is cards[1]
        assert any(b.key == "slash" and b.id == "command" and b.show for b in screen.BINDINGS)
        await pilot.press("q")


async def test_after_done_the_focus_is_on_the_next_card_or_the_transcript(tmp_path):
    hook = Recorder()
    session = tmp_path / "done.session"
    app = ReflectLoopApp(config=tui_config(), session=session, injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        screen = loop_screen(app)
        await finish_step0(pilot, hook)
        assert isinstance(app.focused, Transcript) and screen.command_line.value == ""
        assert "keys → transcript" in plain(screen.status)
        await pilot.press("n")  # acts: the next step, not a letter in the input
        feedback = await wait_open(pilot, "feedback")
        assert screen.command_line.value == ""
        for _ in feedback:
            await pilot.press("a")
            await pilot.pause()
        assert isinstance(app.focused, Button) and app.focused.name == "done"
        assert "keys → Done" in plain(screen.status)
        await pilot.press("d")
        candidates = await wait_open(pilot, "candidate")
        await wait_for(pilot, lambda: app.focused is candidates[0], what="the focus on the first candidate")
        assert len(hook.of(ReviewRequested)) == 3
        await pilot.press("a", "a", "d")
        await wait_for(pilot, lambda: isinstance(app.focused, Transcript), what="the transcript after Done")
        assert screen.command_line.value == ""
        await pilot.press("q")
    assert app.return_code == 0


async def test_a_new_session_opens_with_keys_that_act(tmp_path):
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "new.session", injected=Injector())
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        screen = loop_screen(app)
        assert isinstance(app.focused, Transcript) and "keys → transcript" in plain(screen.status)
        await pilot.press("n")  # "ready: /next (or n) runs step 0"
        await wait_open(pilot, "candidate")
        assert screen.command_line.value == ""
        await pilot.press("q")


async def test_an_unfinished_line_replaced_by_a_slash_is_shown(tmp_path):
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=tmp_path / "draft.session", injected=Injector(), autostart=True)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        cards = await wait_open(pilot, "candidate")
        screen = loop_screen(app)
        screen.command_line.value = "half a [b]thought[/b]"
        await wait_for(pilot, lambda: app.focused is cards[0], what="the focus on the first card")
        burst(app, "/help\n")
        await wait_for(pilot, lambda: "/run N" in plain(screen.query(".system").last()), what="the help")
        said = [plain(w) for w in screen.query(".system")]
        assert any("it was: half a [b]thought[/b]" in s for s in said), said
        assert [plain(u) for u in screen.query(UserLine)][-1] == "you › /help"
        assert all(c.decision is None for c in cards) and not hook.of(DecisionChosen)
        await pilot.press("escape", "q")


async def test_a_command_typed_fast_on_a_packet_card_decides_nothing(tmp_path):
    from reflectloop.core.review import AutoReviewer
    from reflectloop.sessions.decisions import decision_log
    from reflectloop.sessions.packets import assign
    from reflectloop.sessions.service import open_run
    from reflectloop.tui.screens.packet import PacketScreen

    run = open_run(tui_config(), AutoReviewer(), session=tmp_path / "src.session", injected=Injector())
    await run.drive(1)  # step 0: cards with no feedback before them, so none is held back
    await run.close()
    (packet,) = assign(tmp_path / "src.session", ["ann"], tmp_path / "packets")
    hook = Recorder()
    app = ReflectLoopApp(config=tui_config(), session=packet)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        screen = await wait_for(pilot, lambda: isinstance(app.screen, PacketScreen) and app.screen.sets
                                and app.screen, what="the packet screen")
        card = await wait_for(pilot, lambda: isinstance(app.focused, ProposalCard) and app.focused,
                              what="a focused card")
        burst(app, "/accept\n")  # without its argument: refused, so nothing may be decided by any route
        await wait_for(pilot, lambda: "/accept parsed" in plain(screen.query(".system").last()), what="the answer")
        assert card.decision is None and not hook.of(DecisionChosen) and not hook.of(EditRequested)
        await pilot.press("q")
    with SessionStore.open(packet, read_only=True) as store:
        assert decision_log(store) == []


async def test_escape_on_a_packet_only_leaves_the_input(tmp_path):
    from reflectloop.core.review import AutoReviewer
    from reflectloop.sessions.packets import assign
    from reflectloop.sessions.service import open_run
    from reflectloop.tui.screens.packet import PacketScreen

    run = open_run(tui_config(), AutoReviewer(), session=tmp_path / "src.session", injected=Injector())
    await run.drive(1)
    await run.close()
    (packet,) = assign(tmp_path / "src.session", ["ann"], tmp_path / "packets")
    app = ReflectLoopApp(config=tui_config(), session=packet)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for(pilot, lambda: isinstance(app.screen, PacketScreen) and app.screen.sets
                                and app.screen, what="the packet screen")
        card = await wait_for(pilot, lambda: isinstance(app.focused, ProposalCard) and app.focused,
                              what="a focused card")
        await pilot.press("escape")  # outside the input: Escape does nothing, least of all enter it
        await pilot.pause()
        assert app.focused is card
        await pilot.press("slash")
        await wait_for(pilot, lambda: app.focused is screen.command_line, what="the input line")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.focused, ProposalCard), what="a card again")
        assert app.focused.decision is None
        await pilot.press("q")
