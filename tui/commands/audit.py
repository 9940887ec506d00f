"""``reflectloop audit PATH …``: the reflection audit of sessions or exported
annotation sets, as plain-text tables (or ``--json``).

PATH is a session, a folder of sessions (``run --method all``), or an
exported JSONL file.  ``--control`` re-asks each session's optimizer for
feedback with other error sets (real model calls; cached like any other).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

SECTIONS = ("summary", "curve", "repetition", "control", "grounding", "human_llm", "following", "revisions", "methods")


def add_audit_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``audit`` and ``report``."""
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="a session, a folder of sessions, or an exported JSONL annotation file")
    p.add_argument("--embeddings", metavar="MODEL",
                   help="measure similarity with embeddings from an OpenAI-compatible /v1/embeddings endpoint "
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
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_audit_options(p)
    p.add_argument("--json", action="store_true", help="one JSON document on stdout instead of tables")
    p.add_argument("--section", default="all",
                   help=f"tables to print, comma separated: all or any of {', '.join(SECTIONS)}")
    p.set_defaults(func=main)


@dataclass
class AuditRun:
    datas: list = field(default_factory=list)
    audits: list = field(default_factory=list)
    methods: list = field(default_factory=list)
    backend_name: str = "tfidf"


def _conditions(value: str) -> list[str]:
    from core.analysis import CONDITIONS

    names = [c.strip() for c in value.split(",") if c.strip()]
    bad = [c for c in names if c not in CONDITIONS]
    if bad or not names:
        raise ValueError(f"unknown control condition(s) {', '.join(bad) or value!r} (known: {', '.join(CONDITIONS)})")
    return names


@dataclass(frozen=True)
class AuditOptions:
    """What ``audit``/``report`` and the TUI's Audit screen may ask for."""

    embeddings: str | None = None
    embeddings_base_url: str | None = None
    control: bool = False
    control_sets: int = 3
    control_samples: int = 1
    conditions: str = "same,shuffled,other,correct"
    data_dir: str | None = None
    resamples: int = 2000
    seed: int = 0

    @classmethod
    def from_args(cls, args) -> AuditOptions:
        return cls(**{f: getattr(args, f) for f in cls.__dataclass_fields__ if hasattr(args, f)})


async def control_for(data, options: AuditOptions, backend):
    """The control experiment for one session (None when it cannot run, with a note)."""
    from core.analysis import control_method, run_control, session_task
    from core.config import ConfigError, from_dict

    if not data.config:
        data.notes.append("control: the export carries no run configuration; run it on the session instead")
        return None
    try:
        config = from_dict(data.config)
    except ConfigError as exc:
        data.notes.append(f"control: the session's configuration is not usable: {exc}")
        return None
    task = session_task(config, options.data_dir)
    method = control_method(config, task)
    try:
        if not method.reflects:
            data.notes.append(f"control: method {config.method} writes no feedback")
            return None
        return await run_control(
            data, task, method, conditions=_conditions(options.conditions), samples=options.control_samples,
            max_sets=options.control_sets, seed=options.seed, backend=backend,
        )
    finally:
        await method.optimizer.aclose()


def audit_paths(paths, options: AuditOptions | None = None) -> AuditRun:
    """Load every path, run the control when asked, audit each session and
    compare methods on the same task.  Synchronous: call it from a thread
    (not from a running event loop) when ``options.control`` is set."""
    from core.analysis import audit, compare_methods, make_similarity
    from sessions.audit_data import load_all

    options = options or AuditOptions()
    if options.control:
        _conditions(options.conditions)  # refuse a typo before loading anything
        if options.control_sets < 1 or options.control_samples < 1:
            raise ValueError("--control-sets and --control-samples must be at least 1")
    if options.resamples < 1:
        raise ValueError("--resamples must be at least 1")
    backend = make_similarity(options.embeddings, options.embeddings_base_url)
    out = AuditRun(backend_name=backend.name)
    out.datas = load_all(paths)
    for data in out.datas:
        control = asyncio.run(control_for(data, options, backend)) if options.control else None
        out.audits.append(audit(data, backend=backend, resamples=options.resamples, seed=options.seed, control=control))
    out.methods = compare_methods(out.datas, resamples=options.resamples, seed=options.seed)
    return out


def run_audit(args) -> AuditRun:
    return audit_paths(args.paths, AuditOptions.from_args(args))


def tables_for(run: AuditRun, sections: str = "all"):
    from core.analysis import methods_table, session_tables

    wanted = set(SECTIONS) if sections == "all" else {s.strip() for s in sections.split(",") if s.strip()}
    bad = wanted - set(SECTIONS)
    if bad:
        raise ValueError(f"unknown section(s) {', '.join(sorted(bad))} (known: all, {', '.join(SECTIONS)})")
    tables = [t for a in run.audits for t in session_tables(a) if t.key in wanted]
    if run.methods and "methods" in wanted:
        tables.append(methods_table(run.methods))
    return tables


def to_json(run: AuditRun) -> dict:
    return clean_json({
        "similarity": run.backend_name,
        "sessions": [a.to_dict() for a in run.audits],
        "methods": [m.to_dict() for m in run.methods],
    })


def clean_json(value):
    """NaN and infinities become null: the output is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    return value


def main(args) -> int:
    from core.analysis import render_text

    run = run_audit(args)
    if args.json:
        print(json.dumps(to_json(run), indent=1, allow_nan=False))
        for data in run.datas:  # also in the JSON; said where a person sees it
            for note in data.notes:
                print(f"{data.name}: {note}", file=sys.stderr)
    else:
        print(render_text(tables_for(run, args.section)), end="")
    return 0
