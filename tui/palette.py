"""The slash commands in Textual's command palette (ctrl+p), from ``tui.slash_commands``.

A chat screen (loop or packet) lists the commands it takes as ``slash_commands``
and carries one out with ``action_slash(name)``: the same as typing it, or,
for a command that needs an argument, the input line with the command typed.
"""
from __future__ import annotations

from functools import partial
from typing import Protocol

from textual.command import DiscoveryHit, Hit, Hits, Provider

from reflectloop.tui.slash_commands import SlashCommand


class SlashScreen(Protocol):
    """What the provider needs of its screen."""

    @property
    def slash_commands(self) -> tuple[SlashCommand, ...]: ...

    async def action_slash(self, name: str) -> None: ...


class SlashCommandsProvider(Provider):
    def _commands(self) -> tuple[SlashCommand, ...]:
        return getattr(self.screen, "slash_commands", ())

    def _run(self, name: str):
        screen: SlashScreen = self.screen  # type: ignore[assignment]
        return partial(screen.action_slash, name)

    async def discover(self) -> Hits:
        for c in self._commands():
            yield DiscoveryHit(c.usage, self._run(c.name), text=c.usage, help=c.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for c in self._commands():
            score = matcher.match(c.usage)
            if score > 0:
                yield Hit(score, matcher.highlight(c.usage), self._run(c.name), text=c.usage, help=c.help)
