"""The Textual app: a thin shell over its screens.

``ReflectLoopApp(config=..., session=None)`` opens on the start screen;
``session=PATH`` opens straight into that session's loop screen (resuming it,
or starting a new session there when PATH does not exist yet), or into the
packet screen when PATH is an annotation packet (``reflectloop assign``); a resumed
session takes the RESUMABLE settings of ``overrides`` (how far to go, what it
may spend: ``sessions.service.RESUMABLE``).  ``injected``
(task, target, optimizer), or a function of the config giving them, replaces
the models and task built from the config: tests use scripted models.
``keymap`` is the config file's ``[keymap]`` table (``tui.keymap``): keys for
the bindings' ids and for the slash commands.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import events
from textual.app import App

from reflectloop.core.settings.config import RunConfig
from reflectloop.tui.messages import RunRequested, SessionChosen
from reflectloop.tui.screens.start import StartScreen
from reflectloop.tui.keymap import actions as keymap_actions, check as keymap_check, commands as keymap_commands
from reflectloop.tui.slash_commands import bindings
from reflectloop.tui.widgets.input.typing import route_typing

def is_packet(path: Path) -> bool:
    """An annotation packet: opened for its annotator, never stepped."""
    from reflectloop.sessions.packets import packet_info
    from reflectloop.sessions.service import is_session
    from reflectloop.sessions.store import SessionStore

    if not is_session(path):
        return False
    try:
        with SessionStore.open(path, read_only=True) as store:
            return packet_info(store) is not None
    except Exception:  # a session that cannot be read: the loop screen opens it and says why
        return False


if TYPE_CHECKING:
    from reflectloop.sessions.service import Injected
    from reflectloop.tui.screens.loop import LoopScreen


def _loop_screen(**kwargs) -> LoopScreen:
    # Imported on first use: the start screen paints without the engine's imports.
    from reflectloop.tui.screens.loop import LoopScreen

    return LoopScreen(**kwargs)


class ReflectLoopApp(App[int]):
    TITLE = "reflectloop"
    CSS_PATH = Path(__file__).parent / "styles" / "app.tcss"  # absolute: subclasses may live anywhere
    BINDINGS = [
        *bindings("app"),
    ]
    cursor_blink = True  # the inputs follow this; tests switch it off

    def __init__(
        self,
        *,
        config: RunConfig | None = None,
        session: str | Path | None = None,
        overrides: dict | None = None,
        injected: Injected | None = None,
        autostart: bool = False,
        blind: bool = False,
        keymap: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        checked = keymap_check(keymap or {})  # the [keymap] table of the config file (``tui.keymap``)
        self.action_keys = keymap_actions(checked)  # also what the help names
        self.set_keymap(self.action_keys)
        self.command_keys = keymap_commands(checked)  # the chat screens bind these
        self.config = config or RunConfig()
        self.session = Path(session) if session else None
        self.overrides = overrides
        self.injected = injected
        self.autostart = autostart
        self.blind = blind

    def on_mount(self) -> None:
        if self.session is not None and is_packet(self.session):
            from reflectloop.tui.screens.packet import PacketScreen

            self.push_screen(PacketScreen(self.session, annotator=self.config.annotator))
        elif self.session is not None:
            # An existing session is opened where it stood; autostart only starts a new one.
            self.push_screen(_loop_screen(
                config=self.config, session=self.session, overrides=self.overrides, injected=self.injected,
                autostart=self.autostart, blind=self.blind,
            ))
        else:
            self.push_screen(StartScreen(self.config, blind=self.blind))

    async def on_event(self, event: events.Event) -> None:
        # Here, as a key or a paste arrives, Textual picks the widget it goes to: "/" and a paste
        # are taken to the input line now, so that no key typed after them reaches a card.
        if (isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded
                and self.screen_stack and route_typing(self.screen, event)):
            return
        await super().on_event(event)

    def loop_screens(self) -> list[LoopScreen]:
        from reflectloop.tui.screens.loop import LoopScreen

        return [s for s in self.screen_stack if isinstance(s, LoopScreen)]

    def on_run_requested(self, message: RunRequested) -> None:
        screen = _loop_screen(config=message.config, injected=self.injected, autostart=True, blind=message.blind)
        if message.replace:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def on_session_chosen(self, message: SessionChosen) -> None:
        self.push_screen(_loop_screen(config=self.config, session=message.path, injected=self.injected))

    async def action_quit(self) -> None:
        """Stop every loop cleanly (cancel the worker, close the session), then exit."""
        for screen in reversed(self.loop_screens()):
            await screen.shutdown()
        from reflectloop.tui.screens.packet import PacketScreen

        for packet in self.screen_stack:
            if isinstance(packet, PacketScreen):
                packet.close_packet()
        self.exit(0)
