"""The TUI's screens: start (choose a run or a session), loop (the chat), edit (modal)."""
