"""The reflection audit of sessions or exported annotation sets, computed
without any user interface: the ``audit``/``report`` commands and the TUI's
Audit screen all call :func:`audit_paths` and :func:`tables_for`.

A path is a session, a folder of sessions (``run --method all``), or an
exported JSONL file.  ``control`` re-asks each session's optimizer for
feedback with other error sets (real model calls; cached like any other).
"""
from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from pathlib import Path

SECTIONS = ("summary", "curve", "repetition", "control", "grounding", "human_llm", "following", "revisions", "methods",
            "agreement", "labels")


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


@dataclass
class AuditRun:
    datas: list = field(default_factory=list)
    audits: list = field(default_factory=list)
    methods: list = field(default_factory=list)
    backend_name: str = "tfidf"
    agreements: list = field(default_factory=list)  # (name, MergedAgreement) of each merged set of packets
    labels: list = field(default_factory=list)  # LabelRate rows over every loaded session


def parse_conditions(value: str) -> list[str]:
    from reflectloop.core.analysis import CONDITIONS

    names = [c.strip() for c in value.split(",") if c.strip()]
    bad = [c for c in names if c not in CONDITIONS]
    if bad or not names:
        raise ValueError(f"unknown control condition(s) {', '.join(bad) or value!r} (known: {', '.join(CONDITIONS)})")
    return names


async def control_for(data, options: AuditOptions, backend, session: Path | None = None):
    """The control experiment for one session (None when it cannot run, with
    a note); the task is the one the session stored (``session``: its folder)."""
    from reflectloop.core.analysis import control_method, run_control, session_task
    from reflectloop.core.settings.config import ConfigError, from_stored
    from reflectloop.sessions.store import SessionStore
    from reflectloop.sessions.stored_task import session_task as stored_session_task

    if not data.config:
        data.notes.append("control: the export carries no run configuration; run it on the session instead")
        return None
    try:
        config = from_stored(data.config)
    except ConfigError as exc:
        data.notes.append(f"control: the session's configuration is not usable: {exc}")
        return None
    if session is None:  # an export with its run's configuration: the task is read as the run read it
        task = session_task(config, options.data_dir)
    else:
        with SessionStore.open(session, read_only=True) as store:
            task, notes = stored_session_task(store, config, data_dir=options.data_dir)
        data.notes += [f"control: {note}" for note in notes]
    method = control_method(config, task)
    try:
        if not method.reflects:
            data.notes.append(f"control: method {config.method} writes no feedback")
            return None
        return await run_control(
            data, task, method, conditions=parse_conditions(options.conditions), samples=options.control_samples,
            max_sets=options.control_sets, seed=options.seed, backend=backend,
        )
    finally:
        await method.optimizer.aclose()


def check_options(options: AuditOptions) -> None:
    """Refuse a typo before loading anything."""
    if options.control:
        parse_conditions(options.conditions)
        if options.control_sets < 1 or options.control_samples < 1:
            raise ValueError("--control-sets and --control-samples must be at least 1")
    if options.resamples < 1:
        raise ValueError("--resamples must be at least 1")


def audit_paths(paths, options: AuditOptions | None = None) -> AuditRun:
    """Load every path, run the control when asked, audit each session and
    compare methods on the same task.  Synchronous: call it from a thread
    (not from a running event loop) when ``options.control`` is set."""
    from reflectloop.core.analysis import audit, compare_methods, make_similarity
    from reflectloop.core.analysis.labels import label_rates
    from reflectloop.sessions.audit_data import load_all_located

    options = options or AuditOptions()
    check_options(options)
    backend = make_similarity(options.embeddings, options.embeddings_base_url)
    try:  # an embeddings backend holds a client and its thread until closed
        out = AuditRun(backend_name=backend.name)
        located = load_all_located(paths)
        out.datas = [data for data, _ in located]
        for data, session in located:
            control = asyncio.run(control_for(data, options, backend, session)) if options.control else None
            out.audits.append(audit(data, backend=backend, resamples=options.resamples, seed=options.seed,
                                    control=control))
        out.methods = compare_methods(out.datas, resamples=options.resamples, seed=options.seed)
        out.agreements = merged_agreements(paths, backend)
        out.labels = label_rates(out.datas, [(x.id, x.kinds) for x in rubric_of(paths).labels])
        return out
    finally:
        backend.close()


def rubric_of(paths):
    """The rubric of the first packet or merged set among ``paths``; else the default."""
    from reflectloop.core.rubric import DEFAULT_RUBRIC
    from reflectloop.sessions.audit_data import session_paths
    from reflectloop.sessions.packets import session_rubric
    from reflectloop.sessions.store import SessionStore

    for path in paths:
        for found in session_paths(Path(path)):
            with SessionStore.open(found, read_only=True) as store:
                rubric = session_rubric(store)
            if rubric is not DEFAULT_RUBRIC:
                return rubric
    return DEFAULT_RUBRIC


def labels_table(run: AuditRun):
    from reflectloop.core.analysis.tables import Table, num, pct

    rows = [[r.method or "?", "all" if r.step is None else str(r.step), r.label, str(r.cards), pct(r.rate),
             num(r.dev_with), num(r.dev_without)] for r in run.labels if r.cards]
    notes = ["dev with / without: mean dev score of the prompts the ticked / the other cards led to "
             "(a candidate's own prompt; the candidates refined from a feedback text)",
             "a merged set of packets counts each card once, with its latest decision; per-annotator figures are "
             "in the agreement section"]
    return Table("Rubric labels", ["method", "step", "label", "cards", "ticked", "dev with", "dev without"],
                 rows, notes, key="labels")


def merged_agreements(paths, backend) -> list:
    """Agreement of every merged set of packets among ``paths`` (sessions only)."""
    from reflectloop.sessions.audit_data import session_paths
    from reflectloop.sessions.packets import merged_agreement
    from reflectloop.sessions.store import SessionStore

    out = []
    for path in paths:
        for found in session_paths(Path(path)):
            with SessionStore.open(found, read_only=True) as store:
                if "merged" in store.config:
                    out.append((found.name, merged_agreement(store, backend)))
    return out


def agreement_tables(run: AuditRun) -> list:
    from reflectloop.core.analysis.tables import Table, num

    tables = []
    for name, result in run.agreements:
        two = len(result.annotators) == 2
        rows = [[r.measure, str(r.items), str(r.complete), num(r.cohen) if two else "-", num(r.fleiss), num(r.alpha)]
                for r in result.rows]
        sim = result.reflections
        notes = [f"annotators: {', '.join(result.annotators)}; Cohen's kappa needs exactly two, Fleiss' kappa uses "
                 "the cards every annotator decided, Krippendorff's alpha (nominal) every card decided by two or more",
                 f"reflections ({sim.backend}, {len(sim.per_set)} error sets): human-human {num(sim.human_human)}, "
                 f"LLM-human {num(sim.llm_human)}",
                 "'-' is undefined: no cards, or every rating the same (chance agreement already total)"]
        tables.append(Table(f"Agreement: {name}", ["measure", "cards", "all rated", "Cohen", "Fleiss", "alpha"],
                            rows, notes, key="agreement"))
    return tables


def tables_for(run: AuditRun, sections: str = "all"):
    """The tables of the wanted sections (comma separated, or ``all``)."""
    from reflectloop.core.analysis import methods_table, session_tables

    wanted = set(SECTIONS) if sections == "all" else {s.strip() for s in sections.split(",") if s.strip()}
    bad = wanted - set(SECTIONS)
    if bad:
        raise ValueError(f"unknown section(s) {', '.join(sorted(bad))} (known: all, {', '.join(SECTIONS)})")
    tables = [t for a in run.audits for t in session_tables(a) if t.key in wanted]
    if run.methods and "methods" in wanted:
        tables.append(methods_table(run.methods))
    if "agreement" in wanted:
        tables += agreement_tables(run)
    if "labels" in wanted and any(r.ticked for r in run.labels):
        tables.append(labels_table(run))
    return tables


def to_json(run: AuditRun) -> dict:
    return clean_json({
        "similarity": run.backend_name,
        "sessions": [a.to_dict() for a in run.audits],
        "methods": [m.to_dict() for m in run.methods],
        "agreement": [{"session": name, **a.to_dict()} for name, a in run.agreements],
        "labels": [r.to_dict() for r in run.labels],
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
