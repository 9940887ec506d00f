"""Load what the audit needs (``core.analysis.AuditData``) from a session
directory, a folder of sessions (``run --method all``), or an exported
annotation set (JSONL, CSV or an hf export folder, one record per reviewed
proposal, read by ``sessions.export.read_export``).

``load(path)`` takes any of them and returns one ``AuditData`` per session.

The export loader accepts the export's records and tolerates the usual
spellings of each field, so an older or newer export still loads.  What each
record may carry (only ``kind``, ``step`` and the text are required):

    session / session_name      which session (records are grouped by it)
    task, method, config        the run (config: the RunConfig dict)
    proposal_id / id            the proposal id (``s1/<parent>/feedback/0``)
    step, parent_id / parent    the error set
    kind                        feedback | candidate | demonstration
    author                      llm | human
    llm_text / text             the proposal's text
    decision                    accept | edit | reject | add, or {"kind", "text", "by"}
    labels, rationale, annotator  the rubric labels ticked, why, and who decided
    human_text / edited_text    the person's edit (or their own text)
    errors / error_set          [{example_id, input, gold (list), output, answer}]
    parent_instruction          the instruction reflected on
    parent_dev / parent_results the parent's per-example dev results
    prompt_id, feedback_ids     candidates: the prompt made from it, and its feedback
    instruction, demonstration  candidates: the prompt's text
    dev_results / results       [{example_id, output, answer, correct, followed_format, errored}]
    dev / dev_score, test / test_score      scores, when per-example results are absent
    downstream / candidates     feedback: the candidates refined from it, each as above

Per-example dev results are what paired comparisons need; an export with
scores only still loads, and the audit notes that those comparisons are
missing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from reflectloop.core.analysis.data import AuditData
from reflectloop.core.types import Decision, ErrorCase, Evaluation, ExampleResult, Prompt, Proposal, ProposalId

from .decisions import current_decisions
from .service import is_session
from .store import SessionStore


# ------------------------------------------------------------------ sessions
def load_session(path: str | Path) -> AuditData:
    """A session opened read-only (a running writer is not disturbed)."""
    path = Path(path)
    with SessionStore.open(path, read_only=True) as store:
        config = store.config
        dev: dict[str, Evaluation] = {}
        test: dict[str, Evaluation] = {}
        for _step, ev in store.evaluations():  # first-written order; a later step's evaluation wins
            (dev if ev.split == "dev" else test)[ev.prompt_id] = ev
        return AuditData(
            name=path.name,
            task=str(config.get("task") or ""),
            method=str(config.get("method") or ""),
            config=config,
            prompts=store.prompts(),
            dev=dev,
            test=test,
            proposals=store.proposals(),
            decisions=current_decisions(store),
            steps=store.steps(),
            source="session",
        )


# ------------------------------------------------------------------- exports
def _first(record: dict, *names: str, default: Any = None) -> Any:
    for n in names:
        if n in record and record[n] is not None:
            return record[n]
    return default


def _error(d: dict) -> ErrorCase:
    gold = _first(d, "gold", "targets", "target", "gold_answers", default=())
    gold = (gold,) if isinstance(gold, str) else tuple(str(g) for g in gold)
    return ErrorCase(
        str(_first(d, "example_id", "id", default="")), str(_first(d, "input", default="")), gold,
        str(_first(d, "output", "model_output", default="")), _first(d, "answer", "model_answer"),
    )


def _result(d: dict) -> ExampleResult:
    return ExampleResult(
        str(_first(d, "example_id", "id", default="")), str(_first(d, "output", default="")),
        _first(d, "answer"), bool(_first(d, "correct", default=False)),
        bool(_first(d, "followed_format", "format", default=False)), _first(d, "errored"),
    )


def _results(value: Any) -> tuple[ExampleResult, ...] | None:
    if isinstance(value, dict):
        value = _first(value, "results", "dev_results")
    if not isinstance(value, list) or not value or not isinstance(value[0], dict):
        return None
    return tuple(_result(d) for d in value)


def _session_name(record: dict, default: str) -> str:
    s = _first(record, "session", "session_name", "session_id")
    if isinstance(s, dict):
        s = _first(s, "name", "path", "id")
    return Path(str(s)).name if s else default


class _ExportBuilder:
    def __init__(self, name: str):
        self.data = AuditData(name=name, source="export")
        self.proposals: dict[str, Proposal] = {}
        self.scores_only: set[str] = set()

    def add(self, r: dict, line: int) -> None:
        d = self.data
        if not d.task:
            config = r["config"] if isinstance(r.get("config"), dict) else {}
            d.config = d.config or config
            d.task = str(_first(r, "task", default=config.get("task", "")) or "")
            d.method = str(_first(r, "method", default=config.get("method", "")) or "")
        kind = _first(r, "kind", "proposal_kind")
        step = _first(r, "step")
        if kind not in ("feedback", "candidate", "demonstration") or not isinstance(step, int):
            raise ValueError(f"line {line}: a record needs kind (feedback/candidate/demonstration) and an integer step")
        parent = str(_first(r, "parent_id", "parent", default="task"))
        author = str(_first(r, "author", default="llm"))
        text = str(_first(r, "llm_text", "text", "proposal_text", default="") or "")
        human = _first(r, "human_text", "edited_text", "edit")
        if author == "human" and not text and human:
            text = str(human)
        pid = str(_first(r, "proposal_id", "id", default=str(ProposalId(step, parent, kind, "line", line))))
        errors = tuple(_error(e) for e in _first(r, "errors", "error_set", default=()) or ())
        self.proposals[pid] = Proposal(
            pid, step, kind, parent, text, errors, str(_first(r, "raw", default="")), _first(r, "parse_error"),
            author, _first(r, "for_candidate"),
        )
        decision = _first(r, "decision")
        notes: dict[str, Any] = {"labels": tuple(str(x) for x in _first(r, "labels", default=()) or ()),
                 "rationale": str(_first(r, "rationale", default="")), "annotator": str(_first(r, "annotator", default=""))}
        if isinstance(decision, dict):
            d.decisions[pid] = Decision(pid, decision.get("kind", "accept"), decision.get("text"), decision.get("by", "human"),
                                        **notes)
        elif isinstance(decision, str):
            decided: Any = decision  # the kind as the export wrote it: not checked here (nor in the dict form above)
            d.decisions[pid] = Decision(pid, decided, str(human) if decision == "edit" and human else None, "human",
                                        **notes)
        elif author == "human":
            d.decisions[pid] = Decision(pid, "add", text, "human", **notes)

        instruction = _first(r, "parent_instruction", "parent_text", "parent_prompt")
        if parent not in d.prompts and isinstance(instruction, str):
            d.prompts[parent] = Prompt(parent, instruction, None, None, max(0, step - 1), "init")
        parent_results = _results(_first(r, "parent_dev", "parent_results", "parent_dev_results"))
        if parent_results and parent not in d.dev:
            d.dev[parent] = Evaluation(parent, "dev", parent_results)

        if kind == "candidate":
            self._prompt(r, pid, step, parent, author, text, human, decision)
        for c in _first(r, "downstream", "candidates", "refinements", default=()) or ():
            if isinstance(c, dict):
                cid = str(_first(c, "prompt_id", "id", default=""))
                if cid:
                    fb = tuple(_first(c, "feedback_ids", default=(pid,)))
                    self._prompt(c, cid, int(_first(c, "step", default=step)), parent, author,
                                 str(_first(c, "instruction", "text", default="")), None, None, fb)

    def _prompt(self, r: dict, pid: str, step: int, parent: str, author: str, text: str, human, decision, fb=None) -> None:
        d = self.data
        prompt_id = str(_first(r, "prompt_id", default=pid))
        edited = isinstance(decision, (str, dict)) and (decision if isinstance(decision, str) else decision.get("kind")) == "edit"
        instruction = str(_first(r, "instruction", default=(human if edited and human else text)) or "")
        origin = "human" if author == "human" else "edited" if edited else "llm"
        feedback_ids = tuple(str(x) for x in (_first(r, "feedback_ids") or fb or ()))
        d.prompts[prompt_id] = Prompt(prompt_id, instruction, _first(r, "demonstration"), parent, step, origin, feedback_ids)
        results = _results(_first(r, "dev_results", "results", "dev"))
        if results:
            d.dev[prompt_id] = Evaluation(prompt_id, "dev", results)
        elif _first(r, "dev", "dev_score") is not None:
            self.scores_only.add(prompt_id)
        test = _results(_first(r, "test_results", "test"))
        if test:
            d.test[prompt_id] = Evaluation(prompt_id, "test", test)

    def finish(self) -> AuditData:
        d = self.data
        d.proposals = list(self.proposals.values())
        missing = sorted(self.scores_only - set(d.dev))
        if missing:
            d.notes.append(f"{len(missing)} candidate(s) have dev scores but no per-example dev results in the "
                           "export: they are left out of the paired comparisons")
        steps = sorted({p.step for p in d.proposals})
        if not d.steps and steps:
            d.notes.append("an export has no step records: score curves are not available")
        return d


def load_export(path: str | Path) -> list[AuditData]:
    """An exported annotation set (JSONL, CSV or an hf export folder), one
    ``AuditData`` per session in it."""
    from .export import export_file, read_export

    file = export_file(path)
    builders: dict[str, _ExportBuilder] = {}
    for n, record in read_export(file):
        name = _session_name(record, file.stem)
        builder = builders.setdefault(name, _ExportBuilder(name))
        try:
            builder.add(record, n)
        except ValueError as exc:
            raise ValueError(f"{file}:{exc}") from None
    return [b.finish() for b in builders.values()]


# ---------------------------------------------------------------- any path
def session_paths(path: Path) -> list[Path]:
    """A session itself, or the sessions directly inside a folder (sorted)."""
    if is_session(path):
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_dir() and is_session(p))
    return []


def load(path: str | Path) -> list[AuditData]:
    return [data for data, _ in load_located(path)]


def load_located(path: str | Path) -> list[tuple[AuditData, Path | None]]:
    """Each ``AuditData`` of ``path`` with the session it came from (None
    for an export): what needs the session's stored task reads it there."""
    path = Path(path)
    if path.is_file() or (path / "data" / "train.jsonl").is_file():
        return [(data, None) for data in load_export(path)]
    found = session_paths(path)
    if not found:
        raise FileNotFoundError(f"{path}: neither a session, a folder of sessions, nor an export (JSONL, CSV or an hf export folder)")
    return [(load_session(p), p) for p in found]


def load_all(paths: Iterable[str | Path]) -> list[AuditData]:
    return [data for data, _ in load_all_located(paths)]


def load_all_located(paths: Iterable[str | Path]) -> list[tuple[AuditData, Path | None]]:
    out: list[tuple[AuditData, Path | None]] = []
    for p in paths:
        out += load_located(p)
    return out
