"""``reflectloop audit PATH …``: the reflection audit of sessions or exported
annotation sets, as plain-text tables (or ``--json``).

PATH is a session, a folder of sessions (``run --method all``), or an
exported JSONL file.  ``--control`` re-asks each session's optimizer for
feedback with other error sets (real model calls; cached like any other).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reflectloop.sessions.audit_run import SECTIONS, AuditOptions, AuditRun, audit_paths, tables_for, to_json
from reflectloop.tui.subcommands import plain


def add_audit_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``audit`` and ``report``."""
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="a session, a folder of sessions, or an exported JSONL annotation file")
    p.add_argument("--embeddings", metavar="MODEL",
                   help="measure similarity with embeddings: a model name on an OpenAI-compatible server, or a "
                        "spec (openai:MODEL, local:smollm2); cached per text and recorded like every model call "
                        "(default: TF-IDF cosine, computed locally)")
    p.add_argument("--embeddings-base-url", metavar="URL", help="the embeddings server (default: OPENAI_BASE_URL or OpenAI)")
    p.add_argument("--control", action="store_true",
                   help="re-ask the optimizer for feedback with other error sets (makes model calls)")
    p.add_argument("--control-sets", type=int, default=3, metavar="N", help="error sets to re-ask on (default: 3)")
    p.add_argument("--control-samples", type=int, default=1, metavar="N", help="samples per condition (default: 1)")
    p.add_argument("--conditions", default="same,shuffled,other,correct",
                   help="control conditions, comma separated (default: all four)")
    p.add_argument("--data-dir", help="where the session's task data is, when it moved (for --control)")
    p.add_argument("--resamples", type=int, default=2000, metavar="N", help="bootstrap resamples (default: 2000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the control's draws (default: 0)")


def register(sub) -> None:
    p = sub.add_parser("audit", help="audit feedback: repetitiveness, grounding, human vs LLM, instruction following",
                       description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_audit_options(p)
    p.add_argument("--json", action="store_true", help="one JSON document on stdout instead of tables")
    p.add_argument("--section", default="all",
                   help=f"tables to print, comma separated: all or any of {', '.join(SECTIONS)}")
    p.set_defaults(func=main)


def run_audit(args) -> AuditRun:
    return audit_paths(args.paths, AuditOptions.from_args(args))


def main(args) -> int:
    from reflectloop.core.analysis import render_text

    run = run_audit(args)
    if args.json:
        print(json.dumps(to_json(run), indent=1, allow_nan=False))
        for data in run.datas:  # also in the JSON; said where a person sees it
            for note in data.notes:
                print(f"{data.name}: {note}", file=sys.stderr)
    else:
        print(render_text(tables_for(run, args.section)), end="")
    return 0
