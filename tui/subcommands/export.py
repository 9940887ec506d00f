"""``reflectloop export PATH --format jsonl|csv|hf|labelstudio [-o FILE]``."""
from __future__ import annotations

import argparse
import sys
from typing import TextIO
from pathlib import Path

FORMATS = ("jsonl", "csv", "hf", "labelstudio")


def run(args: argparse.Namespace) -> int:
    from reflectloop.core.rubric import load_rubric
    from reflectloop.sessions.export import STREAMED, export, export_name, meta_path, refuse_inside_session
    from reflectloop.sessions.packets import session_rubric
    from reflectloop.sessions.store import SessionStore

    source = Path(args.path)
    to_stdout = args.output == "-"
    if to_stdout and args.format not in STREAMED:
        raise ValueError(f"-o - writes {' or '.join(STREAMED)} to standard output; --format {args.format} "
                         "is written to files: give -o PATH")
    path = Path(args.output) if args.output and not to_stdout else Path(export_name(source, args.format))
    if not to_stdout:
        refuse_inside_session(path)  # before the session is even opened
    out: TextIO | Path = sys.stdout if to_stdout else path
    with SessionStore.open(source, read_only=True) as store:
        n = export(store, args.format, out, load_rubric(args.rubric) if args.rubric else session_rubric(store))
    if to_stdout:
        sys.stdout.flush()
        print(f"{n} reviewed proposals written to standard output", file=sys.stderr)
        return 0
    print(f"{n} reviewed proposals written to {out} (metadata: {meta_path(path, args.format)})", file=sys.stderr)
    if args.format == "labelstudio":
        from reflectloop.sessions.export_labelstudio import config_path

        print(f"Label Studio labeling config (the rubric as its label schema): {config_path(path)}", file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser("export", help="annotation data: one record per reviewed proposal")
    p.add_argument("path", help="the session")
    p.add_argument("--format", choices=FORMATS, default="jsonl",
                   help="jsonl, csv, hf (a folder that datasets.load_dataset reads), or labelstudio "
                        "(a Label Studio task import and its labeling config) (default: jsonl)")
    p.add_argument("--rubric", metavar="TOML", help="labelstudio: the rubric of the label schema (default: the session's own, else the study's)")
    p.add_argument("-o", "--output",
                   help="file (folder for hf) to write, outside every session folder; - for standard output "
                        "(jsonl, csv) (default: the session's name, here); its metadata goes to FILE.meta.json")
    p.set_defaults(func=run)
