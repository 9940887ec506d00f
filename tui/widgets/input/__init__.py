from reflectloop.tui.widgets.input.command_line import CommandLine
from reflectloop.tui.widgets.input.typing import route_typing

__all__ = ["CommandLine", "route_typing"]
