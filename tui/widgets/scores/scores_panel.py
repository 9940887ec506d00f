"""Dev-best and test score per step, as a plot beside the transcript; a score
that was not measured is "—" in the table and no point on the plot, never 0."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from reflectloop.core.types import StepRecord


class ScoresPanel(Vertical):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.records: dict[int, StepRecord] = {}

    def compose(self) -> ComposeResult:
        yield Static(Text("scores per step", style="bold"), classes="scores-title")
        yield PlotextPlot(classes="scores-plot")
        yield Static("", classes="scores-table")

    def on_mount(self) -> None:
        self.redraw()

    def add(self, record: StepRecord) -> None:
        self.records[record.step] = record
        if self.is_mounted:
            self.redraw()

    def redraw(self) -> None:
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("dev best / test")
        plt.xlabel("step")
        plt.ylim(0, 1)
        steps = sorted(self.records)
        if steps:
            rated = [s for s in steps if self.records[s].dev_best is not None]
            if rated:
                plt.plot(rated, [self.records[s].dev_best for s in rated], label="dev best", marker="braille")
            tested = [s for s in steps if self.records[s].test is not None]
            if tested:
                plt.plot(tested, [self.records[s].test for s in tested], label="test", marker="braille")
            plt.xticks([float(s) for s in steps], [str(s) for s in steps])
        plot.refresh()
        table = Text()
        table.append("step  dev    test\n", style="bold")
        for s in steps:
            r = self.records[s]
            table.append(f"{s:>4}  {_shown(r.dev_best)}  {_shown(r.test)}\n")
        self.query_one(".scores-table", Static).update(table)


def _shown(value: float | None) -> str:
    return "  —  " if value is None else f"{value:.3f}"
