"""Annotation data out of a session, and back in.

One record per reviewed proposal: what the LLM proposed (or the person
wrote), on which error set, what was decided, by whom and when, and the dev
scores of the prompts it led to.  Written as JSONL, CSV, or a folder that
``datasets.load_dataset("json", data_dir=...)`` reads.

Beside every export file is its metadata, ``OUT.meta.json`` (``meta.json``
in an hf folder): the session it came from, how many records, and whether
the session's log was read whole -- the lines that could not be read, by
position, so an export missing a damaged record says so.  An export is
never written inside a session folder (it would change the session), and
JSONL or CSV can go to a stream (``-o -``: standard output).
"""
from __future__ import annotations

import contextlib
import csv
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import IO, Iterable

from reflectloop.core.rubric import DEFAULT_RUBRIC, Rubric
from reflectloop.core.types import Decision, ErrorCase, Evaluation, Prompt, Proposal
from reflectloop.sessions.decisions import decision_log, standing
from reflectloop.sessions.redact import env_secrets, scrub
from reflectloop.sessions.storage import LOG_NAME
from reflectloop.sessions.store import SessionStore

FIELDS = [
    "session", "task", "method", "step", "kind", "proposal_id", "parent_id", "for_candidate", "author",
    "errors", "llm_text", "human_text", "decision", "decided_by", "decided_at", "annotator", "labels", "rationale",
    "parse_error",
    "downstream", "downstream_dev_best", "parent_instruction", "parent_dev_results", "config",
]
# Nested values go into CSV cells as JSON.
CSV_JSON_FIELDS = ("errors", "labels", "downstream", "parent_dev_results", "config")
# Export format -> what is added to the session's name (hf writes a folder).
SUFFIX = {"jsonl": ".jsonl", "csv": ".csv", "hf": "-hf", "labelstudio": ".labelstudio.json"}


def export_name(session: Path, fmt: str) -> str:
    """``x.session`` -> ``x.jsonl``, ``x.csv`` or the folder ``x-hf``."""
    if fmt not in SUFFIX:
        raise ValueError(f"unknown export format {fmt!r} ({', '.join(SUFFIX)})")
    return session.name.removesuffix(".session") + SUFFIX[fmt]


def _results(ev: Evaluation | None) -> list[dict] | None:
    """Per-example dev results: what paired comparisons downstream need."""
    return [asdict(r) for r in ev.results] if ev else None


def _downstream(p: Proposal, prompts: dict[str, Prompt], dev: dict[str, Evaluation]) -> list[dict]:
    """The prompts a proposal led to, with their dev scores and results."""
    if p.kind == "feedback":
        ids = [q.id for q in prompts.values() if p.id in q.feedback_ids]
    elif p.kind == "demonstration":
        ids = [p.for_candidate] if p.for_candidate else []
    else:
        ids = [p.id]
    out = []
    for i in ids:
        if i in prompts:
            q, ev = prompts[i], dev.get(i)
            out.append({
                "prompt_id": i, "step": q.step, "instruction": q.instruction, "demonstration": q.demonstration,
                "feedback_ids": list(q.feedback_ids), "dev": ev.score if ev else None, "dev_results": _results(ev),
            })
    return out


def _human_text(p: Proposal, d: Decision | None) -> str | None:
    if p.author == "human":
        return p.text
    return d.text if d and d.kind == "edit" else None


def _standing_by_proposal(store: SessionStore) -> dict[str, list[Decision]]:
    """Each annotator's standing decision (an undone one is not exported) per proposal."""
    out: dict[str, list[Decision]] = {}
    for (pid, _who), d in standing(decision_log(store)).items():
        out.setdefault(pid, []).append(d)
    return out


def records(store: SessionStore) -> list[dict]:
    """One record per reviewed proposal and annotator (a merged set of
    packets has one per annotator who decided it)."""
    config = store.config
    prompts = store.prompts()
    dev = {ev.prompt_id: ev for _, ev in store.evaluations() if ev.split == "dev"}
    decisions = _standing_by_proposal(store)
    out = []
    for p in store.proposals():
        for d in decisions.get(p.id, ()):  # none: not reviewed (yet), nothing to annotate
            out.append(_record(store.path.name, config, p, d, prompts, dev))
    return out


def _record(session: str, config: dict, p: Proposal, d: Decision, prompts: dict[str, Prompt],
            dev: dict[str, Evaluation]) -> dict:
    down = _downstream(p, prompts, dev)
    scores = [x["dev"] for x in down if x["dev"] is not None]
    return {
        "session": session,
        "task": config.get("task"),
        "method": config.get("method"),
        "step": p.step,
        "kind": p.kind,
        "proposal_id": p.id,
        "parent_id": p.parent_id,
        "for_candidate": p.for_candidate,
        "author": p.author,
        "errors": [asdict(e) for e in p.errors],
        "llm_text": p.text if p.author == "llm" else None,
        "human_text": _human_text(p, d),
        "decision": d.kind,
        "decided_by": d.by,
        "decided_at": d.at,
        "annotator": d.annotator,
        "labels": list(d.labels),
        "rationale": d.rationale,
        "parse_error": p.parse_error,
        "downstream": down,
        "downstream_dev_best": max(scores) if scores else None,
        "parent_instruction": prompts[p.parent_id].instruction if p.parent_id in prompts else None,
        "parent_dev_results": _results(dev.get(p.parent_id)),
        "config": config,
    }


def _writing(target: Path | IO[str]):
    """A file opened for writing, or a stream as it is (left open)."""
    if isinstance(target, Path):
        return target.open("w", newline="", encoding="utf-8")
    return contextlib.nullcontext(target)


def write_jsonl(rows: Iterable[dict], path: Path | IO[str]) -> None:
    with _writing(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_csv(rows: Iterable[dict], path: Path | IO[str]) -> None:
    with _writing(path) as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v, ensure_ascii=False) if k in CSV_JSON_FIELDS else v for k, v in row.items()})


def write_hf(rows: list[dict], folder: Path, *, source: str) -> None:
    """A dataset folder: ``data/train.jsonl`` plus a dataset card."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    write_jsonl(rows, folder / "data" / "train.jsonl")
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train.jsonl\n---\n\n"
        f"# reflectloop annotations\n\nExported from `{source}`: {len(rows)} reviewed proposals (feedback, "
        "candidate prompts, demonstrations), each with the error set it answered, the LLM's text, the "
        "human's text or edit, the decision and the dev scores of the prompts it led to.\n\n"
        "Load with `datasets.load_dataset(\"json\", data_dir=\"<this folder>/data\")`.\n"
    )


STREAMED = ("jsonl", "csv")  # the formats that can go to a stream (hf is a folder, labelstudio two files)


def refuse_inside_session(out: Path) -> None:
    """An export path in a session folder (the session's own log included) is refused."""
    target = Path(out).resolve()
    for folder in (target, *target.parents):
        if (folder / LOG_NAME).is_file():
            raise ValueError(f"{out} is inside the session folder {folder}: an export is written outside "
                             "every session folder, which it would otherwise change")


def meta_path(out: Path, fmt: str) -> Path:
    """Where the metadata of the export at ``out`` is written."""
    return out / "meta.json" if fmt == "hf" else out.with_name(out.name + ".meta.json")


def read_meta(path: str | Path) -> dict | None:
    """The metadata written beside an export (file or hf folder), if it is there and readable."""
    path = Path(path)
    meta = path / "meta.json" if path.is_dir() else path.with_name(path.name + ".meta.json")
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def export_meta(store: SessionStore, fmt: str, count: int) -> dict:
    """What an export says about itself: its source, and whether the source was read whole."""
    unread, warning = store.unread
    return {
        "session": store.path.name,
        "session_path": str(store.path),
        "format": fmt,
        "records": count,
        "exported_at": time.time(),
        "complete": unread == 0,
        "unread_lines": unread,
        "unread": warning or None,
    }


def export(store: SessionStore, fmt: str, out: Path | IO[str], rubric: Rubric = DEFAULT_RUBRIC) -> int:
    """``out``: a path, or for jsonl and csv a text stream (no metadata file
    then: the caller tells what could not be read).  ``rubric``: the label
    schema of a Label Studio export."""
    if fmt not in SUFFIX:
        raise ValueError(f"unknown export format {fmt!r} ({', '.join(SUFFIX)})")
    if not isinstance(out, Path):
        if fmt not in STREAMED:
            raise ValueError(f"--format {fmt} is written to files, not to a stream: give -o PATH")
    else:
        refuse_inside_session(out)
    # The store scrubbed what it wrote; a key set since (or read from another machine's session) is scrubbed here.
    rows = scrub(records(store), env_secrets())
    _write(rows, fmt, out, store, rubric)
    if isinstance(out, Path):
        meta_path(out, fmt).write_text(json.dumps(export_meta(store, fmt, len(rows)), indent=1) + "\n")
    return len(rows)


def _write(rows: list[dict], fmt: str, out: Path | IO[str], store: SessionStore, rubric: Rubric) -> None:
    if fmt == "jsonl":
        write_jsonl(rows, out)
    elif fmt == "csv":
        write_csv(rows, out)
    elif fmt == "hf":
        assert isinstance(out, Path)  # export() refuses a stream for a folder
        write_hf(rows, out, source=store.path.name)
        if store.unread[0]:  # the card says it too: it is what a dataset's reader sees first
            with (out / "README.md").open("a") as f:
                f.write(f"\n**Incomplete:** {store.unread[1]}. See `meta.json`.\n")
    elif fmt == "labelstudio":
        from reflectloop.sessions.export_labelstudio import write_labelstudio

        assert isinstance(out, Path)  # export() refuses a stream for two files
        write_labelstudio(rows, out, rubric)


# ------------------------------------------------------------------ import
def export_file(path: str | Path) -> Path:
    """The file of an export: itself, or the records of an hf export folder."""
    path = Path(path)
    if path.is_dir():
        path = path / "data" / "train.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such export file")
    return path


def read_export(path: str | Path) -> list[tuple[int, dict]]:
    """The one reader of exported annotation sets: every record of a JSONL or
    CSV export (or an hf export folder) with its line number, nested CSV cells
    decoded.  A line that is not a JSON object is refused by its position."""
    path = export_file(path)
    rows = _csv_rows(path) if path.suffix == ".csv" else _jsonl_rows(path)
    if not rows:
        raise ValueError(f"{path}: no records")
    return rows


def _jsonl_rows(path: Path) -> list[tuple[int, dict]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path} line {n}: not valid JSON: {exc.msg}") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path} line {n}: a record must be a JSON object")
            rows.append((n, row))
    return rows


def _csv_rows(path: Path) -> list[tuple[int, dict]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(enumerate(csv.DictReader(f), 2))
    for n, row in rows:
        try:
            for k in CSV_JSON_FIELDS:
                row[k] = json.loads(row[k]) if row.get(k) else None
            if row.get("step"):
                row["step"] = int(row["step"])
            row["decided_at"] = float(row["decided_at"]) if row.get("decided_at") else 0.0
        except ValueError as exc:  # JSONDecodeError is one
            raise ValueError(f"{path} line {n}: not a reflectloop export row: {exc}") from None
        for k in ("llm_text", "human_text", "parse_error", "for_candidate"):
            row[k] = row.get(k) or None
    return rows


def read_records(path: str | Path) -> list[dict]:
    """Records of an export, each checked to carry what an import needs."""
    rows = read_export(path)
    for n, row in rows:
        _check_fields(row, f"{export_file(path)} line {n}")
    return [row for _, row in rows]


def _check_fields(row: dict, where: str) -> None:
    missing = [k for k in ("proposal_id", "step", "kind", "decision") if k not in row]
    if missing:
        raise ValueError(f"{where}: not a reflectloop export record (missing {', '.join(missing)})")


def import_records(path: Path, target: Path) -> SessionStore:
    """A read-only session holding an exported set, for the analysis views.
    Returns the store opened read-only."""
    rows = read_records(path)
    first = rows[0]
    config = {"task": first.get("task"), "method": first.get("method"), "imported_from": str(path)}
    with SessionStore.create(target, config) as store:
        for row in rows:
            proposal, decision = _from_record(row)
            store.add_proposal(proposal)
            store.add_decision(decision)
    return SessionStore.open(target, read_only=True)


def _from_record(row: dict) -> tuple[Proposal, Decision]:
    errors = tuple(ErrorCase(e["example_id"], e["input"], tuple(e["gold"]), e["output"], e.get("answer"))
                   for e in row.get("errors") or ())
    human = row.get("author") == "human"
    text = (row.get("human_text") if human else row.get("llm_text")) or ""
    proposal = Proposal(
        row["proposal_id"], int(row["step"]), row["kind"], row.get("parent_id") or "", text, errors,
        parse_error=row.get("parse_error"), author="human" if human else "llm", for_candidate=row.get("for_candidate"),
    )
    edited = row.get("human_text") if row["decision"] in ("edit", "add") else None
    decision = Decision(row["proposal_id"], row["decision"], edited, by=row.get("decided_by") or "human",
                        at=float(row.get("decided_at") or 0.0), labels=tuple(row.get("labels") or ()),
                        rationale=row.get("rationale") or "", annotator=row.get("annotator") or "")
    return proposal, decision
