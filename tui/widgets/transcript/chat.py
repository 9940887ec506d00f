"""Plain chat lines: the person's input, system notes, phases, step summaries."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from reflectloop.core.types import Prompt, StepRecord
from reflectloop.tui.widgets.text import clean, literal, one_line


class UserLine(Static):
    """What the person typed, shown as their message."""

    def __init__(self, text: str, *, label: str = "you") -> None:
        content = Text.assemble((f"{label} › ", "bold"), literal(text))
        super().__init__(content, classes="chat user")


class SystemLine(Static):
    """reflectloop talking: help, command answers, warnings, errors."""

    def __init__(self, text: str | Text, *, level: str = "info") -> None:
        content = text if isinstance(text, Text) else literal(text)
        super().__init__(content, classes=f"chat system -{level}")


class NoteLine(Static):
    """A note of the loop (a dropped duplicate, a rejected demonstration ...)."""

    def __init__(self, step: int, text: str) -> None:
        super().__init__(Text.assemble((f"step {step} · note: ", "italic"), literal(text)), classes="chat note")


class PhaseLine(Static):
    LABELS = {
        "init": "writing the initial prompts",
        "evaluate": "evaluating",
        "reflect": "reflecting on the errors of",
        "refine": "refining",
        "demonstrate": "writing demonstrations for",
        "select": "selecting the beam from",
        "test": "testing the best prompt",
    }

    def __init__(self, step: int, phase: str, detail: str) -> None:
        label = self.LABELS.get(phase, phase)
        text = Text.assemble((f"step {step} · {phase} ", "bold"), (f"— {label} ", "dim"), literal(detail, "dim"))
        super().__init__(text, classes="chat phase")


def _score(value: float | None) -> str:
    """A score, or "—" when it was not measured (no test set, no example scored): never 0."""
    return "  —  " if value is None else f"{value:.3f}"


class StepSummary(Static):
    """The end of a step: dev best, test, the beam kept, what it cost."""

    def __init__(self, record: StepRecord, beam: tuple[Prompt, ...] | list[Prompt], *, replayed: bool = False) -> None:
        self.record = record
        text = Text()
        title = f"step {record.step} {'(recorded earlier)' if replayed else 'done'}"
        text.append(title, style="bold")
        text.append(f" — dev best {_score(record.dev_best)} · test {_score(record.test)}")
        text.append(f" · tokens {record.tokens:,} · calls {record.calls} · ${record.cost:.4f}", style="dim")
        if record.evaluation == "adaptive":
            text.append(f" · adaptive evaluation saved {record.calls_saved} calls", style="dim")
        best = next((p for p in beam if p.id == record.best_id), None)
        if best is not None:
            text.append("\nbest: ", style="bold")
            shown = clean(best.instruction)
            text.append(shown if len(shown) <= 400 else shown[:399] + "…")
        if beam:
            text.append("\nbeam: ", style="bold")
            for k, p in enumerate(beam):
                score = record.dev_scores.get(p.id)
                text.append(("" if k == 0 else "  ·  ") + f"{p.id} {_score(score)} ")
                text.append(one_line(p.instruction, 40), style="dim")
        for note in record.notes:
            text.append("\nnote: ", style="italic")
            text.append(clean(note))
        super().__init__(text, classes="chat step-summary")
