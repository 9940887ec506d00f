"""The presets to start from, and the estimate of one step of the run the
form describes (calls, tokens, cost), updated as the form changes."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Select, Static

from reflectloop.core.settings.estimate import describe, estimate_step, headline
from reflectloop.core.settings.config import RunConfig
from reflectloop.core.settings.presets import PRESETS
from reflectloop.tui.widgets.text import clean


class PresetPicker(Select):
    """quick, study; blank ("custom sizes") when the sizes match neither."""

    def __init__(self, value: str | None, *, id: str | None = None) -> None:
        options = [(Text.assemble((p.name, "bold"), (f"  {p.description}", "dim")), p.name) for p in PRESETS.values()]
        super().__init__(options, value=value if value is not None else Select.NULL, allow_blank=True,
                         prompt="custom sizes", id=id)


class EstimatePanel(Static):
    DEFAULT_CSS = """
    EstimatePanel { height: auto; margin: 1 0 0 0; color: $text-muted; }
    """

    def show(self, config: RunConfig) -> None:
        # A typical step (1) in full, and step 0, which writes and scores the initial prompts.
        text = describe(estimate_step(config, 1)) + "\n" + headline(estimate_step(config, 0))
        self.update(Text(clean(text)))

    def cannot(self, reason: str) -> None:
        self.update(Text(f"no estimate: {clean(reason)}", style="yellow"))
