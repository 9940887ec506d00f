"""The input line at the bottom: free text (the person's own reflection or
proposal) or a command starting with '/'."""
from __future__ import annotations

from textual.suggester import SuggestFromList

from tui.widgets.input.fields import LineInput

COMMANDS = {
    "/next": "run one step",
    "/run N": "run N steps",
    "/auto": "accept every proposal from here on, and run the remaining steps",
    "/pause": "stop after the current step (and leave auto mode)",
    "/blind on|off": "write your own reflection before the optimizer's is generated",
    "/method NAME": "change the method (before step 0; afterwards it starts a new session)",
    "/export [jsonl|csv|hf]": "write the session's annotation export beside it",
    "/save PATH": "write the best prompt with its messages filled (.json JSON, .py Python, else text)",
    "/undo": "withdraw your last decision in an open review (u on the cards)",
    "/done": "close the reviews whose cards are all decided (d on the cards), after any text of your own",
    "/accept parsed|rest": "accept every undecided card whose output parsed, or every undecided card",
    "/reject unparsed": "reject every undecided card whose output could not be parsed",
    "/withdraw": "take back the reflection you typed while no review was open (the newest first)",
    "/scores": "show or hide the scores panel (F2)",
    "/audit": "the reflection audit of this session (repetitiveness, grounding, human vs LLM, …)",
    "/help": "this list",
    "/quit": "stop and quit (the session stays resumable)",
}
_SUGGESTIONS = ["/next", "/run ", "/auto", "/pause", "/blind on", "/blind off", "/method ", "/export", "/save ",
                "/undo", "/done", "/accept parsed", "/accept rest", "/reject unparsed", "/withdraw",
                "/scores", "/audit", "/help", "/quit", "/skip"]


class CommandLine(LineInput):
    PLACEHOLDER = "your reflection or own proposal, or a command (/help)"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            placeholder=self.PLACEHOLDER,
            suggester=SuggestFromList(_SUGGESTIONS, case_sensitive=False),
            id=id,
            select_on_focus=False,
        )

    def start(self, text: str) -> str:
        """A new line holding exactly ``text``, the cursor after it; returns the
        line it replaced (empty when that was blank or a bare ``/``), to be shown, not lost."""
        draft = self.value
        self.value = text
        self.cursor_position = len(text)
        return "" if draft.strip() in ("", "/") else draft
