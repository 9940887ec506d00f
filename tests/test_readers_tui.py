"""The TUI says why it cannot open a session another reflectloop is writing:
the lock's holder is named in the transcript, nothing crashes."""
from __future__ import annotations

import os

from reflectloop.sessions.store import SessionStore
from tests.tui_fixtures import (  # noqa: F401  (quiet_terminal: an autouse fixture)
    SIZE,
    Recorder,
    loop_screen,
    plain,
    quiet_terminal,
    tui_config,
    wait_for,
)
from reflectloop.tui.app import ReflectLoopApp
from reflectloop.tui.messages import RunFailed


async def test_a_locked_session_is_reported_with_its_holder(tmp_path):
    session = tmp_path / "held.session"
    hook = Recorder()
    with SessionStore.create(session, tui_config().to_dict()):  # this process writes it
        app = ReflectLoopApp(config=tui_config(), session=session)
        async with app.run_test(size=SIZE, message_hook=hook) as pilot:
            await wait_for(pilot, lambda: hook.of(RunFailed), what="the refusal")
            error = hook.of(RunFailed)[0].error
            assert "open in another reflectloop" in error and f"pid {os.getpid()}" in error
            assert "open in another reflectloop" in plain(loop_screen(app).query(".system").last())
            await pilot.press("q")
