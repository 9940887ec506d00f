"""Undo as a superseding decision: the history keeps everything and the
readers see the decision that stands, per annotator; old sessions decode."""
from __future__ import annotations

from reflectloop.core.types import Decision, Proposal
from reflectloop.sessions import codec
from reflectloop.sessions.decisions import current, current_decisions, decision_log, history, standing
from reflectloop.sessions.store import SessionStore


def d(kind, who="ann", pid="p1", labels=()):
    return Decision(pid, kind, by="human", annotator=who, labels=labels)


def test_undo_pops_the_same_annotators_decision_only():
    log = [d("accept"), d("reject", "bob"), d("undo"), d("edit", pid="p2"), d("reject")]
    assert current(log, "ann") == {"p1": log[4], "p2": log[3]}
    assert standing(log)[("p1", "bob")] is log[1]
    entries = history(log, "p1")
    assert [(e.decision.kind, e.stands, e.undone_by) for e in entries] == [
        ("accept", False, 2), ("reject", True, None), ("undo", False, None), ("reject", True, None)]


def test_undo_of_everything_leaves_the_card_undecided():
    log = [d("accept"), d("undo"), d("undo")]  # the second undo has nothing left to withdraw
    assert current(log) == {}
    assert [e.stands for e in history(log, "p1")] == [False, False, False]


def test_latest_standing_decision_of_anyone():
    log = [d("accept", "ann"), d("reject", "bob"), d("undo", "bob")]
    assert current(log) == {"p1": log[0]}


def test_old_decision_records_decode_with_defaults():
    old = {"proposal_id": "p1", "kind": "accept", "text": None, "by": "human", "at": 1.0}
    decision = codec.decode(Decision, old)
    assert (decision.labels, decision.rationale, decision.annotator) == ((), "", "")
    assert codec.decode(Decision, codec.encode(d("accept", labels=("grounded",)))).labels == ("grounded",)


def test_store_history_is_append_only(tmp_path):
    with SessionStore.create(tmp_path / "s.session", {"task": "t"}) as store:
        store.add_proposal(Proposal("p1", 1, "feedback", "p0", "text"))
        for decision in (d("reject", labels=("wrong",)), d("undo"), d("accept")):
            store.add_decision(decision)
    with SessionStore.open(tmp_path / "s.session", read_only=True) as store:
        assert current_decisions(store)["p1"].kind == "accept"
        assert [e.decision.kind for e in history(decision_log(store), "p1")] == ["reject", "undo", "accept"]

