"""``python -m reflectloop``: the command line (without a subcommand, the TUI)."""
import sys

from reflectloop.tui.cli import main

sys.exit(main())
