from tui.widgets.input.command_line import COMMANDS, CommandLine

__all__ = ["COMMANDS", "CommandLine"]
