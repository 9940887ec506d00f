"""The loop screen, split by job: the screen (``screen``), the run driver
(``driver``), the review desk (``desk``), the command table
(``command_table``) and the export job (``exports``)."""
from reflectloop.tui.screens.loop.driver import RunDriver, RunState
from reflectloop.tui.screens.loop.screen import LoopScreen

__all__ = ["LoopScreen", "RunDriver", "RunState"]
