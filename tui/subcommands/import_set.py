"""``reflectloop import FILE``: an exported set back as a read-only session,
or a Label Studio JSON export as a merged set of its annotators' decisions."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from reflectloop.sessions.export import import_records, read_meta
    from reflectloop.sessions.import_labelstudio import is_labelstudio_export
    from reflectloop.sessions.reading import DamagedSessionError
    from reflectloop.sessions.service import session_path

    source = Path(args.file)
    if args.format == "labelstudio" or (args.format is None and is_labelstudio_export(source)):
        return run_labelstudio(args, source)
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


def run_labelstudio(args: argparse.Namespace, source: Path) -> int:
    from reflectloop.core.rubric import load_rubric
    from reflectloop.sessions.import_labelstudio import import_labelstudio, parse_users
    from reflectloop.sessions.service import session_path

    users = parse_users(args.user)  # a bad flag is refused before anything is read
    target = Path(args.output) if args.output else session_path(None, label=f"labelstudio-{source.stem}")
    target.parent.mkdir(parents=True, exist_ok=True)
    out, found = import_labelstudio(source, target, session=args.session, users=users, strict=getattr(args, "strict", False),
                                    rubric=load_rubric(args.rubric) if args.rubric else None)
    for problem in found.problems():
        print(f"warning: {problem}", file=sys.stderr)
    print(f"imported {len(found.decisions)} decisions by {len(found.annotators)} annotators "
          f"({', '.join(found.annotators)}) into the merged set {out}")
    print(f"not decisions: {found.cancelled} annotations cancelled (skipped) in Label Studio, {found.carried} "
          "carried from the export (the session's own decisions)")
    print(f"agreement: reflectloop audit {out} --section agreement", file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser("import", help="load an exported annotation set as a read-only session")
    p.add_argument("file", help="a JSONL or CSV export, an hf export folder, or a Label Studio JSON export")
    p.add_argument("-o", "--output", help="the session's path")
    p.add_argument("--format", choices=("labelstudio",),
                   help="labelstudio: FILE is a Label Studio JSON export of a project made from export "
                        "--format labelstudio; --strict then also refuses tasks it cannot match and annotators it "
                        "cannot name (default: told from the file: a .json file holding a list)")
    p.add_argument("--session", metavar="PATH",
                   help="labelstudio: the session the project was exported from (default: the one its tasks name, "
                        "in the sessions folder)")
    p.add_argument("--user", action="append", metavar="ID=NAME",
                   help="labelstudio: the annotator name of a Label Studio user id, when the export carries "
                        "no email (repeatable)")
    p.add_argument("--rubric", metavar="TOML",
                   help="labelstudio: the rubric the project was labelled with (default: the session's)")
    p.set_defaults(func=run)
