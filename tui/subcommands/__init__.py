"""Subcommands of ``reflectloop`` beyond ``run`` and ``tui``, one module each.

Each module has ``register(sub)``: it adds its parser and sets ``func`` to a
handler ``(args) -> exit code``.  Modules import their heavy dependencies
inside the handler, so ``reflectloop --help`` stays fast.
"""
from __future__ import annotations

import functools
import importlib
import sys

# Listed, not discovered: the order is the order of ``reflectloop --help``.
MODULES: tuple[str, ...] = ("sessions_list", "fork", "best", "export", "import_set", "assign", "merge", "audit", "report", "serve")
# The commands that read sessions: each says what it could not read, and takes --strict.
READERS: tuple[str, ...] = ("sessions", "fork", "best", "export", "import", "assign", "merge", "audit", "report")
STRICT_HELP = ("exit 2, reading nothing further, when a session has lines that cannot be read "
               "(default: they are reported on stderr and every other record is used)")


def plain(doc: str) -> str:
    """A module docstring as help text: without reStructuredText's double backticks."""
    return doc.replace("``", "")


def register_all(sub) -> None:
    for name in MODULES:
        importlib.import_module(f"reflectloop.tui.subcommands.{name}").register(sub)
    for command in READERS:
        parser = sub.choices[command]
        parser.add_argument("--strict", action="store_true", help=STRICT_HELP)
        parser.set_defaults(func=reporting_unread(parser.get_default("func")))


def reporting_unread(handler):
    """``handler`` telling on stderr, as ``run`` does, every session it read
    with unreadable lines; under ``--strict`` such a session is refused (exit 2)."""

    @functools.wraps(handler)
    def run(args) -> int:
        from reflectloop.sessions.reading import watching

        def tell(unread) -> None:
            print(f"warning: {unread.path.name}: {unread.warning}", file=sys.stderr, flush=True)

        with watching(strict=args.strict, on_found=tell) as watch:
            code = handler(args)
        return 2 if args.strict and watch.found else code

    return run
