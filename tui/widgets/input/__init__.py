from tui.widgets.input.command_line import COMMANDS, CommandLine
from tui.widgets.input.typing import route_typing

__all__ = ["COMMANDS", "CommandLine", "route_typing"]
