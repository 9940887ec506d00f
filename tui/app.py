"""The Textual app: a thin shell over its screens.

``ReflectLoopApp(config=..., session=None)`` opens on the start screen;
``session=PATH`` opens straight into that session's loop screen (resuming it,
or starting a new session there when PATH does not exist yet).  ``injected``
(task, target, optimizer), or a function of the config giving them, replaces
the models and task built from the config: tests use scripted models.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App
from textual.binding import Binding

from core.config import RunConfig
from tui.messages import RunRequested, SessionChosen
from tui.screens.start import StartScreen
from tui.widgets.start.sessions import LOG

if TYPE_CHECKING:
    from tui.screens.loop import Injected, LoopScreen


def _loop_screen(**kwargs) -> LoopScreen:
    # Imported on first use: the start screen paints without the engine's imports.
    from tui.screens.loop import LoopScreen

    return LoopScreen(**kwargs)


class ReflectLoopApp(App[int]):
    TITLE = "reflectloop"
    CSS_PATH = Path(__file__).parent / "styles" / "app.tcss"  # absolute: subclasses may live anywhere
    BINDINGS = [
        Binding("ctrl+c", "quit", "Quit", id="interrupt", priority=True, show=False),
        Binding("q", "quit", "Quit", id="quit"),
    ]
    cursor_blink = True  # the inputs follow this; tests switch it off

    def __init__(
        self,
        *,
        config: RunConfig | None = None,
        session: str | Path | None = None,
        injected: Injected | None = None,
        autostart: bool = False,
        blind: bool = False,
    ) -> None:
        super().__init__()
        self.config = config or RunConfig()
        self.session = Path(session) if session else None
        self.injected = injected
        self.autostart = autostart
        self.blind = blind

    def on_mount(self) -> None:
        if self.session is not None:
            exists = (self.session / LOG).is_file()
            self.push_screen(_loop_screen(
                config=self.config, session=self.session, resume=exists, injected=self.injected,
                autostart=self.autostart and not exists, blind=self.blind,
            ))
        else:
            self.push_screen(StartScreen(self.config, blind=self.blind))

    def loop_screens(self) -> list[LoopScreen]:
        from tui.screens.loop import LoopScreen

        return [s for s in self.screen_stack if isinstance(s, LoopScreen)]

    def on_run_requested(self, message: RunRequested) -> None:
        screen = _loop_screen(config=message.config, injected=self.injected, autostart=True, blind=message.blind)
        if message.replace:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def on_session_chosen(self, message: SessionChosen) -> None:
        self.push_screen(_loop_screen(config=self.config, session=message.path, resume=True, injected=self.injected))

    async def action_quit(self) -> None:
        """Stop every loop cleanly (cancel the worker, close the session), then exit."""
        for screen in reversed(self.loop_screens()):
            await screen.shutdown()
        self.exit(0)
