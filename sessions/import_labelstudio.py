"""A Label Studio JSON export back in: the annotations made on a project
created from ``reflectloop export --format labelstudio`` become the decisions
of a merged set (like ``reflectloop merge`` writes), which the agreement
audit and the human-vs-LLM tables read.

Each task is matched to the source session by the ids the export put in its
data (``session``: the session's folder name, ``proposal_id``); both must
match, since proposal ids repeat from one session to the next.  Each
annotation is a decision of its annotator: Label Studio's ``completed_by``,
named by its email when the export carries it (an export made with
``annotations__completed_by`` expanded), by ``--user ID=NAME``, or else
``labelstudio-user-ID`` and said to be unnamed.

Not decisions: an annotation cancelled (skipped) in Label Studio, whose
choices nobody submitted; drafts and predictions (not annotations); and the
annotation the export itself carried (the session's own decision, told by
the ``import_id`` Label Studio keeps of it), which is already in the source
session and is not copied from it either: the set holds what was decided in
Label Studio.  Tasks that match no proposal,
annotators without a name, and annotations that hold no usable decision are
named; a strict import refuses them before writing anything.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from reflectloop.core.rubric import Rubric, RubricError, check_annotator, rubric_to_toml
from reflectloop.core.settings import paths
from reflectloop.core.types import Decision, Proposal
from reflectloop.sessions.export_labelstudio import DECISION, DECISIONS, EDIT, RATIONALE, labels_control
from reflectloop.sessions.fork import copy_steps
from reflectloop.sessions.packets import session_rubric
from reflectloop.sessions.store import SessionStore

UNNAMED = "labelstudio-user-{}"  # an annotator known by a Label Studio user id only


def placeholder(uid: int | None) -> str:
    return UNNAMED.format("unknown" if uid is None else uid)


@dataclass
class Annotations:
    """What one Label Studio export holds for one source session."""

    decisions: list[Decision] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # the tasks that match no proposal, each described
    unnamed: dict[int | None, int] = field(default_factory=dict)  # Label Studio user id -> their annotations
    unusable: list[str] = field(default_factory=list)  # annotations holding no usable decision, each described
    cancelled: int = 0
    carried: int = 0  # the export's own annotations (the session's decisions)
    tasks: int = 0

    @property
    def annotators(self) -> list[str]:
        return sorted({d.annotator for d in self.decisions})

    def problems(self) -> list[str]:
        """What a strict import refuses, each said in full."""
        out = [f"task not matched to the session: {t}" for t in self.unmatched]
        out += [f"annotator not named: {placeholder(uid)} ({n} annotations; the export holds no usable email "
                f"for Label Studio user {uid}" + (f": give --user {uid}=NAME)" if uid is not None else ")")
                for uid, n in self.unnamed.items()]
        return out + [f"annotation without a usable decision: {a}" for a in self.unusable]


# ---------------------------------------------------------------- reading
def is_labelstudio_export(path: str | Path) -> bool:
    """A JSON file holding a list (reflectloop's own JSONL holds one object a line)."""
    path = Path(path)
    if not path.is_file() or path.suffix != ".json":
        return False
    with path.open(encoding="utf-8") as f:
        head = f.read(512).lstrip()
    return head.startswith("[")


def read_tasks(path: str | Path) -> list[dict]:
    """The tasks of a Label Studio JSON export, each checked to be a task."""
    path = Path(path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a Label Studio JSON export: line {exc.lineno}: {exc.msg}") from None
    if not isinstance(tasks, list):
        raise ValueError(f"{path}: not a Label Studio JSON export (a list of tasks)")
    for n, t in enumerate(tasks, 1):
        if not (isinstance(t, dict) and isinstance(t.get("data"), dict) and isinstance(t.get("annotations", []), list)):
            raise ValueError(f"{path}: item {n} is not a Label Studio task (an object with 'data' and 'annotations')")
    if not tasks:
        raise ValueError(f"{path}: no tasks")
    return tasks


def parse_users(values: list[str] | None) -> dict[int, str]:
    """``--user ID=NAME`` flags: Label Studio user id -> annotator name."""
    out: dict[int, str] = {}
    for value in values or ():
        uid, sep, name = value.partition("=")
        if not sep or not uid.strip().isdigit():
            raise ValueError(f"--user {value!r}: give a Label Studio user id and a name, as 2=bob")
        out[int(uid)] = check_annotator(name)
    return out


def source_session(tasks: list[dict], given: str | Path | None) -> Path:
    """``--session``, else the one session the tasks name, in the sessions folder."""
    if given is not None:
        return Path(given)
    names = sorted({str(t["data"].get("session")) for t in tasks if t["data"].get("session")})
    if len(names) == 1 and (paths.sessions_dir() / names[0]).is_dir():
        return paths.sessions_dir() / names[0]
    said = ", ".join(names) or "none"
    raise ValueError(f"give --session PATH: the session these tasks were exported from (they name: {said}; "
                     f"not found in {paths.sessions_dir()})")


# ------------------------------------------------------------ annotations
def read_annotations(tasks: list[dict], session: str, proposals: dict[str, Proposal],
                     users: dict[int, str]) -> Annotations:
    """Every annotation made in Label Studio on a task of ``session``, as a decision."""
    out = Annotations(tasks=len(tasks))
    found: list[tuple[float, int, Decision]] = []
    for t in tasks:
        data = t["data"]
        pid = data.get("proposal_id")
        if data.get("session") != session or pid not in proposals:
            out.unmatched.append(f"task {t.get('id', '?')} (proposal {pid or '-'}, session {data.get('session') or '-'})")
            continue
        for a in t.get("annotations") or ():
            if not isinstance(a, dict):
                out.unusable.append(f"an item of task {t.get('id', '?')}'s annotations is not an annotation: {a!r}")
            elif a.get("was_cancelled"):
                out.cancelled += 1
            elif a.get("import_id") is not None:
                out.carried += 1
            else:
                decision = _decision(a, proposals[pid], _annotator(a, users, out), out, t.get("id", "?"))
                if decision is not None:
                    found.append((decision.at, int(a.get("id") or 0), decision))
    # In the order they were last made: the latest of an annotator's decisions on a card stands.
    out.decisions = [d for _, _, d in sorted(found, key=lambda x: (x[0], x[1]))]
    return out


def _annotator(a: dict, users: dict[int, str], out: Annotations) -> str:
    """The annotator's name: ``--user``, else the email the export carries, else a placeholder named as such."""
    who = a.get("completed_by")
    uid = who.get("id") if isinstance(who, dict) else who
    uid = uid if isinstance(uid, int) else None  # None: a user Label Studio no longer names
    if uid is not None and uid in users:
        return users[uid]
    email = who.get("email") if isinstance(who, dict) else None
    if email:
        try:
            return check_annotator(email)
        except RubricError:  # an email reflectloop cannot use as a name (a '+' in it): named as unnamed
            pass
    out.unnamed[uid] = out.unnamed.get(uid, 0) + 1
    return placeholder(uid)


def _values(result: list, name: str, key: str) -> list[str]:
    """The values (``choices`` or ``text``) of one control of an annotation's result."""
    return [str(v) for r in result if isinstance(r, dict) and r.get("from_name") == name
            for v in (r.get("value") or {}).get(key) or ()]


def _decision(a: dict, proposal: Proposal, annotator: str, out: Annotations, task_id) -> Decision | None:
    result = a.get("result") or []
    where = f"annotation {a.get('id', '?')} on task {task_id} by {annotator}"
    kind = _values(result, DECISION, "choices")
    if len(kind) != 1 or kind[0] not in DECISIONS:
        out.unusable.append(f"{where}: its decision is {kind or 'not chosen'}")
        return None
    text = "\n".join(_values(result, EDIT, "text")).strip() or None
    if kind[0] == "add" and proposal.author == "llm":
        # An own text is a new proposal of its own, which a card of the LLM's cannot hold.
        out.unusable.append(f"{where}: 'add' on the LLM's {proposal.kind}; write it as an edit")
        return None
    if kind[0] == "edit" and text is None:
        out.unusable.append(f"{where}: 'edit' without the edited text")
        return None
    return Decision(
        proposal.id, kind[0],  # type: ignore[arg-type]  # checked against DECISIONS above
        text if kind[0] in ("edit", "add") else None, by="human", at=_time(a),
        labels=tuple(_values(result, labels_control(proposal.kind), "choices")),
        rationale="\n".join(_values(result, RATIONALE, "text")).strip(), annotator=annotator,
    )


def _time(a: dict) -> float:
    """When the annotation was last submitted; 0 (the epoch, listed first) when the export holds no time."""
    stamp = a.get("updated_at") or a.get("created_at")
    try:
        return datetime.fromisoformat(str(stamp)).timestamp()
    except ValueError:
        return 0.0


# ------------------------------------------------------------- the merged set
def import_labelstudio(path: str | Path, target: str | Path, *, session: str | Path | None = None,
                       users: dict[int, str] | None = None, rubric: Rubric | None = None,
                       strict: bool = False) -> tuple[Path, Annotations]:
    """A merged set at ``target``: the source session's steps and proposals,
    and the Label Studio annotations as its decisions.  Nothing is written
    when the export holds no usable decision, or (``strict``) anything it
    cannot match or name."""
    tasks = read_tasks(path)
    source = source_session(tasks, session)
    with SessionStore.open(source, read_only=True) as src:
        proposals = {p.id: p for p in src.proposals()}
        found = read_annotations(tasks, source.name, proposals, users or {})
        if strict and found.problems():
            raise ValueError("; ".join(found.problems()) + " (--strict: nothing imported)")
        if not found.decisions:
            raise ValueError(f"{path}: no annotation made in Label Studio matches a proposal of {source.name} "
                             f"({found.tasks} tasks, {len(found.unmatched)} unmatched, {found.cancelled} cancelled, "
                             f"{found.carried} carried from the export)")
        rubric = rubric or session_rubric(src)
        # A packet or a merged set exported to Label Studio gives a merged set of its own.
        config = {k: v for k, v in src.config.items() if k not in ("packet", "merged")}
        config["merged"] = {"source": source.name, "annotators": found.annotators, "rubric": rubric_to_toml(rubric),
                            "labelstudio": str(path)}
        with SessionStore.create(target, config, task=src.task, parent=source.name) as dst:
            copy_steps(src, dst, max((p.step for p in proposals.values()), default=0))
            for p in proposals.values():
                dst.add_proposal(p)
            for d in found.decisions:
                dst.add_decision(d)
    return Path(target), found
