"""One evaluation: the score ("—" when no example was scored), and on demand
the table of its errors and of the examples that errored."""
from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from reflectloop.core.types import ErrorCase, Evaluation, Example, ExampleResult, Prompt
from reflectloop.tui.widgets.text import one_line
from reflectloop.tui.widgets.transcript.errors import ErrorSet


def error_cases(evaluation: Evaluation, examples: Mapping[str, Example]) -> list[ErrorCase]:
    """The errors, then the examples whose scoring failed (left out of the score)."""
    cases = []
    for r in (*evaluation.errors, *failures(evaluation)):
        ex = examples.get(r.example_id)
        cases.append(ErrorCase(r.example_id, ex.input if ex else "", ex.targets if ex else (), r.output, r.answer,
                               dict(ex.fields) if ex else {}, r.score, r.feedback))
    return cases


def failures(evaluation: Evaluation) -> tuple[ExampleResult, ...]:
    return tuple(r for r in evaluation.results if r.errored is not None)


def error_set(evaluation: Evaluation, examples: Mapping[str, Example]) -> ErrorSet:
    failed = {r.example_id: r.errored or "" for r in failures(evaluation)}
    return ErrorSet(error_cases(evaluation, examples), failed=failed)


class EvaluationMessage(Vertical):
    """``prompt`` scored on a split; its error table mounts when asked for."""

    def __init__(
        self, step: int, evaluation: Evaluation, prompt: Prompt | None, examples: Mapping[str, Example],
        *, expanded: bool = False, dev_size: int | None = None,
    ) -> None:
        super().__init__(classes="chat evaluation")
        self.step = step
        self.evaluation = evaluation
        self.prompt = prompt
        self.examples = examples
        self.expanded = expanded
        self.dev_size = dev_size  # the whole dev set, which a partial evaluation fell short of

    def compose(self) -> ComposeResult:
        ev = self.evaluation
        scored = len(ev.scored)
        score = ev.score
        shown = "—" if score is None else f"{score:.3f}"  # not measured: absent, never 0
        text = Text()
        text.append(f"step {self.step} · {ev.split} · {ev.prompt_id}: ", style="bold")
        if ev.partial:
            # A race's score over a few examples: never to be read as a full one.
            whole = f"of {self.dev_size}" if self.dev_size else "dev examples"
            text.append(f"{shown} on {len(ev.results)} {whole}", style="bold yellow")
            text.append(" · dropped by the race", style="yellow")
        else:
            text.append(shown, style="bold cyan" if score is not None else "bold red")
        text.append(f"  ({len(ev.errors)} errors of {scored}")
        errored = len(ev.results) - scored
        if not scored:
            text.append(f"; no example scored: all {errored} errored)", style="red")
        else:
            text.append(f", {errored} errored examples left out)" if errored else ")")
        if self.prompt is not None:
            text.append("\n")
            text.append(one_line(self.prompt.instruction, 100), style="dim")
        with Horizontal(classes="evaluation-head"):
            yield Static(text, classes="evaluation-score")
            if ev.errors or failures(ev):
                yield Button("hide errors" if self.expanded else "show errors", classes="toggle-errors", compact=True)
        if self.expanded and (ev.errors or failures(ev)):
            yield error_set(ev, self.examples)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.toggle()

    def toggle(self) -> None:
        self.expanded = not self.expanded
        button = self.query_one(".toggle-errors", Button)
        button.label = "hide errors" if self.expanded else "show errors"
        if self.expanded:
            self.mount(error_set(self.evaluation, self.examples))
        else:
            self.query(ErrorSet).remove()
