"""Widgets of the TUI, one folder per screen area."""
