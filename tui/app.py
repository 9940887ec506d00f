"""The Textual app: a thin shell over its screens."""
from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static

from core.config import RunConfig


class ReflectLoopApp(App):
    """Placeholder until the chat-style loop screen lands (issue 4)."""

    TITLE = "reflectloop"
    BINDINGS = [("q", "quit", "Quit")]

    def __init__(self, *, config: RunConfig | None = None, session: str | Path | None = None):
        super().__init__()
        self.config = config or RunConfig()
        self.session = session

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(
            "The interactive loop screen is not built yet.\n"
            f"Run the loop headless meanwhile:  reflectloop run --task {self.config.task} --method {self.config.method}",
            id="placeholder",
            markup=False,
        )
        yield Footer()
