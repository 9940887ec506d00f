"""Recent sessions with their summary, newest first."""
from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from reflectloop.tui.widgets.text import clean


def summarize(path: Path) -> dict:
    """The store's summary, or the reason it could not be read."""
    from reflectloop.sessions.store import SessionStore
    from reflectloop.sessions.summary import session_summary

    try:
        with SessionStore.open(path, read_only=True) as store:
            return session_summary(store)
    except Exception as exc:  # a damaged or foreign folder is listed, not fatal
        return {"name": path.name, "path": str(path), "error": f"{type(exc).__name__}: {exc}"}


def _score(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def describe(summary: dict) -> Text:
    text = Text()
    text.append(clean(summary.get("name", "?")), style="bold")
    if "error" in summary:
        text.append(f"\n  cannot read: {clean(summary['error'])}", style="red")
        return text
    text.append(f"\n  {clean(summary.get('task') or '?')} · {clean(summary.get('method') or '?')}"
                f" · {summary.get('steps', 0)} steps")
    if summary.get("best_dev") is not None:
        text.append(f" · best dev {_score(summary['best_dev'])} (step {summary.get('best_step')})"
                    f" · its test {_score(summary.get('test_of_best'))}")
    updated = summary.get("updated")
    if updated:
        text.append(f"\n  updated {time.strftime('%Y-%m-%d %H:%M', time.localtime(updated))}", style="dim")
    return text


class SessionList(OptionList):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.paths: dict[str, Path] = {}

    def show(self, summaries: list[dict]) -> None:
        self.clear_options()
        self.paths = {}
        if not summaries:
            self.add_option(Option(Text("no sessions yet: start a new run", style="italic dim"), disabled=True))
            return
        for k, summary in enumerate(summaries):
            key = f"session-{k}"
            self.paths[key] = Path(summary["path"])
            self.add_option(Option(describe(summary), id=key))
        self.highlighted = 0
