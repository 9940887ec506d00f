"""Subcommands of ``reflectloop`` beyond ``run`` and ``tui``, one module each.

Each module has ``register(sub)``: it adds its parser and sets ``func`` to a
handler ``(args) -> exit code``.  Modules import their heavy dependencies
inside the handler, so ``reflectloop --help`` stays fast.
"""
from __future__ import annotations

import importlib

# Listed, not discovered: the order is the order of ``reflectloop --help``.
MODULES: tuple[str, ...] = ("sessions_list", "fork", "best", "export", "import_set", "assign", "merge", "audit", "report", "serve")


def plain(doc: str) -> str:
    """A module docstring as help text: without reStructuredText's double backticks."""
    return doc.replace("``", "")


def register_all(sub) -> None:
    for name in MODULES:
        importlib.import_module(f"tui.commands.{name}").register(sub)
