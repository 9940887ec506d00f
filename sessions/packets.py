"""Annotation packets: the same error sets for several annotators, reviewed
independently, then joined.

``assign`` writes one packet per annotator from a finished (or partly
finished) session.  A packet is a session directory that holds:

* the source's prompts, evaluations and step records (the context a card
  shows: the parent instruction, dev scores of what a proposal led to);
* the source's LLM proposals (feedback, candidates, demonstrations) with the
  error sets they answer, and *no* decisions and no human texts of the
  source, so nobody starts from someone else's judgement;
* in its config, under ``packet``: the annotator, the source, a fingerprint
  of the proposals (``merge`` refuses packets of different sources), the
  rubric as TOML text, and ``blind``.

A packet runs no model: annotators need no key, no cache and no network,
and every annotator sees exactly the same texts.  Blindness is enforced by
:class:`PacketReview`, the one way to record in a packet: the LLM proposals
of an error set that has LLM feedback are not handed out, and cannot be
decided, before the annotator's own reflection on that error set is
recorded.  ``merge`` copies one packet's content and every packet's whole
decision log (undos included) into a new session; the audit reads the
annotators' standing decisions from it (``merged_agreement``).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from reflectloop.core.analysis.agreement import AgreementRow, ReflectionSet, ReflectionSimilarity, agreement, reflection_similarity
from reflectloop.core.analysis.data import reflection_round
from reflectloop.core.analysis.text import Similarity
from reflectloop.core.rubric import DEFAULT_RUBRIC, Rubric, check_annotator, rubric_from_toml, rubric_to_toml
from reflectloop.core.types import Decision, DecisionKind, ErrorCase, Prompt, Proposal, ProposalId
from reflectloop.sessions.decisions import current, decision_log, standing
from reflectloop.sessions.fork import copy_steps
from reflectloop.sessions.store import SessionStore


class PacketError(ValueError):
    """A packet that cannot be written, opened, decided in or merged, and why."""


class BlindError(PacketError):
    """The LLM's text of an error set was asked for before the annotator's reflection."""


def fingerprint(proposals: list[Proposal]) -> str:
    digest = hashlib.sha256()
    for p in sorted(proposals, key=lambda p: p.id):
        digest.update(f"{p.id}\0{p.kind}\0{p.text}\0".encode())
    return digest.hexdigest()[:16]


def packet_info(store: SessionStore) -> dict | None:
    """The ``packet`` section of a packet's config; None for any other session."""
    info = store.config.get("packet")
    return info if isinstance(info, dict) else None


def session_rubric(store: SessionStore) -> Rubric:
    """The rubric a packet or a merged set was labelled with; the default for any other session."""
    info = packet_info(store) or store.config.get("merged")
    if isinstance(info, dict) and "rubric" in info:
        return rubric_from_toml(info["rubric"], f"{store.path.name}: rubric")
    return DEFAULT_RUBRIC


# -------------------------------------------------------------------- assign
def assign(source: str | Path, annotators: list[str], folder: str | Path,
           rubric: Rubric = DEFAULT_RUBRIC, steps: list[int] | None = None) -> list[Path]:
    """One packet per annotator in ``folder``: ``<source>-<annotator>.packet``.
    ``steps`` limits the packets to those steps (default: every step with LLM proposals)."""
    names = [check_annotator(a) for a in annotators]
    if len(set(names)) != len(names) or not names:
        raise PacketError("--annotators needs one or more distinct names")
    source, folder = Path(source), Path(folder)
    with SessionStore.open(source, read_only=True) as src:
        if packet_info(src) or "merged" in src.config:
            raise PacketError(f"{source.name} is a packet or a merged set; assign from the original session")
        proposals = [p for p in src.proposals() if p.author == "llm" and (steps is None or p.step in steps)]
        if not proposals:
            raise PacketError(f"{source.name} has no LLM proposals{' in those steps' if steps else ''} to annotate")
        last = max(p.step for p in proposals)
        targets = [folder / f"{source.name.removesuffix('.session')}-{name}.packet" for name in names]
        taken = [str(t) for t in targets if t.exists()]
        if taken:
            raise PacketError(f"already there, not overwritten: {', '.join(taken)}")
        base = {"source": str(source), "fingerprint": fingerprint(proposals), "rubric": rubric_to_toml(rubric),
                "blind": True, "annotators": names}
        folder.mkdir(parents=True, exist_ok=True)
        for name, target in zip(names, targets):
            _write_packet(src, target, {**base, "annotator": name}, proposals, last)
    return targets


def _write_packet(src: SessionStore, target: Path, info: dict, proposals: list[Proposal], last: int) -> None:
    with SessionStore.create(target, {**src.config, "packet": info}, task=src.task, parent=info["source"]) as dst:
        copy_steps(src, dst, last)
        for p in proposals:
            dst.add_proposal(p)



# -------------------------------------------------------------------- review
@dataclass(frozen=True)
class ErrorSet:
    """The cards of one error set: what one parent prompt got wrong at one step."""

    key: str  # "s<step>/<parent id>", and GEPA's iteration ("s1/p0/i3.")
    step: int
    parent_id: str
    parent: Prompt | None  # None when the packet does not hold it (the initial prompts' "task")
    errors: tuple[ErrorCase, ...]
    proposals: tuple[Proposal, ...]  # the LLM's, in the order proposed
    round: str = ""  # GEPA reflects on one parent several times a step: each iteration is its own set

    def own_id(self, annotator: str) -> str:
        """The id of the annotator's own reflection on this set."""
        return str(ProposalId(self.step, self.parent_id, "feedback", self.round, human=True, annotator=annotator))

    @property
    def has_feedback(self) -> bool:
        return any(p.kind == "feedback" for p in self.proposals)


@dataclass
class PacketReview:
    """An annotator's sitting on a packet (Textual-free; the TUI drives it)."""

    store: SessionStore
    annotator: str
    rubric: Rubric
    error_sets: list[ErrorSet] = field(default_factory=list)

    @classmethod
    def open(cls, path: str | Path) -> PacketReview:
        store = SessionStore.open(path)
        info = packet_info(store)
        if info is None:
            store.close()
            raise PacketError(f"{Path(path).name} is not an annotation packet")
        review = cls(store, info["annotator"], session_rubric(store))
        review.error_sets = _error_sets(store)
        return review

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> PacketReview:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -------------------------------------------------------- reflections
    def reflection(self, es: ErrorSet) -> str | None:
        """The annotator's own reflection on the error set, once recorded."""
        own = [p for p in self.store.proposals(es.step) if self._own_reflection(p, es)]
        return own[-1].text if own else None

    def reflect(self, es: ErrorSet, text: str) -> Proposal:
        if not text.strip():
            raise PacketError("a reflection must not be empty")
        if self.reflection(es) is not None:
            raise PacketError(f"{es.key}: your reflection is already recorded (the LLM's text may have been seen since)")
        p = Proposal(es.own_id(self.annotator), es.step, "feedback", es.parent_id, text, es.errors, author="human")
        self.store.add_proposal(p)
        self.store.add_decision(Decision(p.id, "add", text, by="human", annotator=self.annotator))
        return p

    def visible(self, es: ErrorSet) -> tuple[Proposal, ...]:
        """The LLM's cards of an error set; refused before the annotator's reflection."""
        if es.has_feedback and self.reflection(es) is None:
            raise BlindError(f"{es.key}: write your own reflection on these errors before the optimizer's is shown")
        return es.proposals

    def _own_reflection(self, p: Proposal, es: ErrorSet) -> bool:
        return p.author == "human" and p.id == es.own_id(self.annotator)

    # ---------------------------------------------------------- decisions
    def decide(self, proposal_id: str, kind: DecisionKind, *, text: str | None = None,
               labels: tuple[str, ...] = (), rationale: str = "") -> Decision:
        es, p = self._find(proposal_id)
        self.visible(es)
        if kind not in ("accept", "edit", "reject"):
            raise PacketError(f"{kind!r} is not a decision on a card (accept, edit, reject)")
        if kind == "edit" and not (text or "").strip():
            raise PacketError("an edit needs the edited text")
        self.rubric.check_labels(p.kind, tuple(labels))
        d = Decision(p.id, kind, text if kind == "edit" else None, by="human", labels=tuple(dict.fromkeys(labels)),
                     rationale=rationale.strip(), annotator=self.annotator)
        self.store.add_decision(d)
        return d

    def undo(self, proposal_id: str) -> Decision:
        """Withdraw the annotator's standing decision on the card (a superseding record)."""
        self._find(proposal_id)
        if proposal_id not in self.decisions():
            raise PacketError(f"{proposal_id}: nothing to undo, the card is undecided")
        d = Decision(proposal_id, "undo", by="human", annotator=self.annotator)
        self.store.add_decision(d)
        return d

    def decisions(self) -> dict[str, Decision]:
        """The annotator's standing decisions on the LLM's cards."""
        ids = {p.id for es in self.error_sets for p in es.proposals}
        return {k: d for k, d in current(decision_log(self.store), self.annotator).items() if k in ids}

    def remaining(self) -> int:
        return sum(len(es.proposals) for es in self.error_sets) - len(self.decisions())

    def _find(self, proposal_id: str) -> tuple[ErrorSet, Proposal]:
        for es in self.error_sets:
            for p in es.proposals:
                if p.id == proposal_id:
                    return es, p
        raise PacketError(f"{proposal_id}: no such card in this packet")


def _set_key(p: Proposal) -> str:
    rnd = reflection_round(p.id)
    return f"s{p.step}/{p.parent_id}" + (f"/{rnd}" if rnd else "")


def _error_sets(store: SessionStore) -> list[ErrorSet]:
    prompts = store.prompts()
    groups: dict[tuple[int, str, str], list[Proposal]] = {}
    for p in store.proposals():
        if p.author == "llm":
            groups.setdefault((p.step, p.parent_id, reflection_round(p.id)), []).append(p)
    out = []
    for (step, parent, rnd), props in sorted(groups.items(), key=lambda item: item[0][0]):
        errors = next((p.errors for p in props if p.kind == "feedback"), props[0].errors)
        out.append(ErrorSet(_set_key(props[0]), step, parent, prompts.get(parent), errors, tuple(props), rnd))
    return out


# --------------------------------------------------------------------- merge
def merge(packets: list[str | Path], out: str | Path) -> Path:
    """A new session holding one packet's content and every packet's decisions."""
    if len(packets) < 2:
        raise PacketError("merge needs at least two packets")
    opened = [SessionStore.open(p, read_only=True) for p in packets]
    try:
        infos = [_checked_info(s) for s in opened]
        who = [i["annotator"] for i in infos]
        if len(set(who)) != len(who):
            raise PacketError(f"two packets of the same annotator: {', '.join(who)}")
        if len({(i["source"], i["fingerprint"]) for i in infos}) != 1:
            raise PacketError("the packets were not assigned from the same session (their proposals differ)")
        first = opened[0]
        config = {k: v for k, v in first.config.items() if k != "packet"}
        config["merged"] = {"source": infos[0]["source"], "annotators": who, "rubric": infos[0]["rubric"],
                            "packets": [str(p) for p in packets]}
        llm = [p for p in first.proposals() if p.author == "llm"]
        with SessionStore.create(out, config, task=first.task, parent=infos[0]["source"]) as dst:
            copy_steps(first, dst, max(p.step for p in llm))
            for p in llm:
                dst.add_proposal(p)
            for store, name in zip(opened, who):
                _copy_annotations(store, dst, name)
    finally:
        for s in opened:
            s.close()
    return Path(out)


def _checked_info(store: SessionStore) -> dict:
    info = packet_info(store)
    if info is None:
        raise PacketError(f"{store.path.name} is not an annotation packet")
    return info


def _copy_annotations(src: SessionStore, dst: SessionStore, annotator: str) -> None:
    for p in src.proposals():
        if p.author == "human":
            dst.add_proposal(p)
    for d in decision_log(src):
        if d.annotator != annotator:
            raise PacketError(f"{src.path.name} holds a decision by {d.annotator!r}, not by its annotator {annotator!r}")
        dst.add_decision(d)


# ----------------------------------------------------------------- agreement
@dataclass
class MergedAgreement:
    annotators: list[str]
    rows: list[AgreementRow]
    reflections: ReflectionSimilarity

    def to_dict(self) -> dict:
        return {"annotators": self.annotators, "rows": [r.to_dict() for r in self.rows],
                "reflections": self.reflections.to_dict()}


def merged_agreement(store: SessionStore, backend: Similarity) -> MergedAgreement:
    """Agreement on the LLM's cards (decisions and each rubric label) and the
    similarity of the annotators' reflections, of a merged set."""
    info = store.config.get("merged")
    if not isinstance(info, dict):
        raise PacketError(f"{store.path.name} is not a merged set of packets")
    rubric = session_rubric(store)
    proposals = store.proposals()
    kinds = {p.id: p.kind for p in proposals if p.author == "llm"}
    decided = [d for (pid, _who), d in standing(decision_log(store)).items() if pid in kinds]
    rows = agreement(decided, kinds, [(x.id, x.kinds) for x in rubric.labels])
    return MergedAgreement(list(info["annotators"]), rows, reflection_similarity(_reflection_sets(store), backend))


def _reflection_sets(store: SessionStore) -> list[ReflectionSet]:
    adds = {pid: d.annotator for (pid, _who), d in standing(decision_log(store)).items() if d.kind == "add"}
    llm: dict[str, list[str]] = {}
    human: dict[str, dict[str, str]] = {}
    for p in store.proposals():
        if p.kind != "feedback":
            continue
        key = _set_key(p)
        if p.author == "llm":
            llm.setdefault(key, []).append(p.text)
        elif p.id in adds:
            human.setdefault(key, {})[adds[p.id]] = p.text
    return [ReflectionSet(k, human.get(k, {}), "\n".join(texts)) for k, texts in llm.items()]
