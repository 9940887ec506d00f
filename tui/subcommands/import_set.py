"""``reflectloop import FILE``: an exported set back as a read-only session."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from reflectloop.sessions.export import import_records, read_meta
    from reflectloop.sessions.reading import DamagedSessionError
    from reflectloop.sessions.service import session_path

    source = Path(args.file)
    meta = read_meta(source)
    if meta is not None and meta.get("complete") is False:  # the export said it was read in part
        note = f"{source.name} was exported from a session read in part: {meta.get('unread')}"
        if getattr(args, "strict", False):
            raise DamagedSessionError(f"{note}; --strict refuses it")
        print(f"warning: {note}", file=sys.stderr)
    stem = source.name.removesuffix(".jsonl").removesuffix(".csv")
    target = Path(args.output) if args.output else session_path(None, label=f"imported-{stem}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with import_records(source, target) as store:
        n = len(store.proposals())
    print(f"imported {n} records into the read-only session {target}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("import", help="load an exported annotation set as a read-only session")
    p.add_argument("file", help="a JSONL or CSV export, or an hf export folder")
    p.add_argument("-o", "--output", help="the session's path")
    p.set_defaults(func=run)
