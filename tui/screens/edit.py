"""Edit a proposal's text in a TextArea; the edit is stored beside the original."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from reflectloop.tui.slash_commands import bindings
from reflectloop.tui.widgets.input.fields import EditArea
from reflectloop.tui.widgets.text import clean


class EditScreen(ModalScreen[str | None]):
    """Dismisses with the edited text, or None when cancelled."""

    BINDINGS = [
        *bindings("editor"),
    ]

    def __init__(self, text: str, *, title: str = "Edit") -> None:
        super().__init__()
        self.text = clean(text)  # control characters become visible stand-ins
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="edit-dialog"):
            yield Static(Text(clean(self.title_text), style="bold"), id="edit-title")
            yield EditArea(self.text, soft_wrap=True, id="edit-text")
            yield Static(Text("ctrl+s save · escape cancel", style="dim"), id="edit-hint")
            with Horizontal(id="edit-buttons"):
                yield Button("Save", variant="primary", id="edit-save")
                yield Button("Cancel", id="edit-cancel")

    def on_mount(self) -> None:
        self.query_one(EditArea).focus()

    def action_save(self) -> None:
        self.dismiss(self.query_one(EditArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "edit-save":
            self.action_save()
        else:
            self.action_cancel()
