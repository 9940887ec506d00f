"""The annotation commands end to end on real session files: assign, merge,
audit's agreement section, export with labels (JSONL and Label Studio,
checked with Label Studio's own SDK), and the report's step ticks."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from reflectloop.core.rubric import DEFAULT_RUBRIC
from reflectloop.sessions.export import read_records
from reflectloop.sessions.packets import PacketReview
from tests.test_packets import make_source
from reflectloop.tui.cli import main


def annotated_pair(tmp_path):
    source = make_source(tmp_path / "run.session")
    assert main(["assign", str(source), "--annotators", "ann,bob", "-o", str(tmp_path / "p")]) == 0
    packets = sorted((tmp_path / "p").iterdir())
    for path, verdict in zip(packets, ("accept", "reject")):
        with PacketReview.open(path) as review:
            review.reflect(review.error_sets[0], f"{review.annotator}: backward steps are ignored")
            review.decide("s1/p0/feedback/0", "accept", labels=("grounded",), rationale="names the error")
            review.decide("s1/p0/feedback/1", verdict)
    merged = tmp_path / "merged.session"
    assert main(["merge", *map(str, packets), "--out", str(merged)]) == 0
    return merged


def test_assign_merge_audit_agreement(tmp_path, capsys):
    merged = annotated_pair(tmp_path)
    capsys.readouterr()
    assert main(["audit", str(merged), "--section", "agreement", "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)["agreement"]
    rows = {r["measure"]: r for r in result["rows"]}
    # Two cards decided by both: feedback/0 accept/accept, feedback/1 accept/reject.
    #   p_o = 1/2; ann: accept 2; bob: accept 1, reject 1; p_e = (2*1 + 0*1)/4 = 1/2 -> kappa 0.
    assert rows["decision"]["items"] == 2 and rows["decision"]["cohen"] == pytest.approx(0.0)
    # grounded: Y/Y on feedback/0, N/N on feedback/1: p_o = 1, p_e = 1/2 -> kappa 1.
    assert rows["label:grounded"]["cohen"] == pytest.approx(1.0)
    assert result["annotators"] == ["ann", "bob"]
    assert main(["audit", str(merged), "--section", "agreement"]) == 0
    assert "Agreement: merged.session" in capsys.readouterr().out


def test_audit_counts_label_rates(tmp_path, capsys):
    annotated_pair(tmp_path)
    ann = tmp_path / "p" / "run-ann.packet"
    capsys.readouterr()
    assert main(["audit", str(ann), "--section", "labels", "--json"]) == 0
    rows = {(r["step"], r["label"]): r for r in json.loads(capsys.readouterr().out)["labels"]}
    # ann decided feedback/0 (grounded ticked) and feedback/1 (nothing ticked).
    assert rows[(None, "grounded")]["cards"] == 2 and rows[(None, "grounded")]["rate"] == pytest.approx(0.5)
    assert rows[(1, "wrong")]["ticked"] == 0


def test_assign_refuses_bad_input_clearly(tmp_path, capsys):
    source = make_source(tmp_path / "run.session")
    assert main(["assign", str(source), "--annotators", "ann,", "-o", str(tmp_path / "p")]) == 2
    assert "annotator name must not be empty" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
    assert main(["merge", str(source), str(source), "--out", str(tmp_path / "m")]) == 2
    assert "not an annotation packet" in capsys.readouterr().err


def test_export_carries_annotator_labels_and_rationale(tmp_path):
    merged = annotated_pair(tmp_path)
    out = tmp_path / "a.jsonl"
    assert main(["export", str(merged), "-o", str(out)]) == 0
    rows = [r for r in read_records(out) if r["proposal_id"] == "s1/p0/feedback/0"]
    assert sorted(r["annotator"] for r in rows) == ["ann", "bob"]
    assert all(r["labels"] == ["grounded"] and r["rationale"] == "names the error" for r in rows)


def test_labelstudio_export_validates_with_the_sdk(tmp_path):
    interface = pytest.importorskip("label_studio_sdk.label_interface")
    merged = annotated_pair(tmp_path)
    out = tmp_path / "a.labelstudio.json"
    assert main(["export", str(merged), "--format", "labelstudio", "-o", str(out)]) == 0
    schema = interface.LabelInterface((tmp_path / "a.labelstudio.xml").read_text())
    schema.validate()
    tasks = json.loads(out.read_text())
    assert len(tasks) == 6  # per annotator: the reflection and two decided cards
    for t in tasks:
        # validate_task would call validate_annotation without its argument
        # (SDK 2.1.2), so the data and the annotation are checked apart.
        assert schema.validate_task({"data": t["data"]})
        assert schema.validate_annotation(t["annotations"][0]), t
    labels = {c.name: c for c in schema.controls}["labels_feedback"]
    assert set(labels.labels) == {x.id for x in DEFAULT_RUBRIC.for_kind("feedback")}
    bad = {"result": [{"from_name": "labels_feedback", "to_name": "proposal", "type": "choices",
                       "value": {"choices": ["follows_feedback"]}}]}
    assert not schema.validate_annotation(bad)  # a candidate label on the feedback control is refused


def test_one_step_report_has_whole_step_ticks():
    from reflectloop.tui.subcommands.report import curves_figure

    audit = SimpleNamespace(curve=[{"step": 0, "dev_best": 0.5, "test": 0.4}], method="apo", name="x")
    fig = curves_figure([audit])
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
