"""The Label Studio reader alone, on a small file shaped as Label Studio's JSON
export (the shape the real server writes: tests/test_labelstudio_roundtrip.py):
annotations become decisions of a merged set; the export's own annotation, a
cancelled one, unmatched tasks and unnamed annotators are not decisions, and
the last two are named (refused under --strict)."""
from __future__ import annotations

import json

from reflectloop.sessions.decisions import current_decisions, decision_log
from reflectloop.sessions.store import SessionStore
from tests.support.cli import cli
from tests.test_packets import make_source


def _choices(name, values):
    return {"from_name": name, "to_name": "proposal", "type": "choices", "value": {"choices": values}}


def _text(name, text):
    return {"from_name": name, "to_name": "proposal", "type": "textarea", "value": {"text": [text]}}


def _annotation(n, who, result, **extra):
    return {"id": n, "completed_by": who, "result": result, "was_cancelled": False, "import_id": None,
            "created_at": f"2026-01-01T10:00:0{n}Z", "updated_at": f"2026-01-01T10:00:0{n}Z", **extra}


ANN = {"id": 2, "email": "ann@example.com", "first_name": "", "last_name": ""}


def _task(n, proposal, annotations, session="run.session"):
    return {"id": n, "data": {"proposal_id": proposal, "session": session, "text": "..."}, "annotations": annotations,
            "meta": {}, "predictions": []}


def ls_export(tmp_path):
    tasks = [
        _task(1, "s1/p0/feedback/0", [
            # the session's own decision, carried by the export: Label Studio kept its id as import_id
            _annotation(1, 1, [_choices("decision", ["accept"])], import_id=1),
            _annotation(2, ANN, [_choices("decision", ["accept"]), _choices("labels_feedback", ["grounded"]),
                                 _text("rationale", "names the error")]),
            _annotation(3, 3, [_choices("decision", ["reject"])]),  # an id only: an unnamed annotator
        ]),
        _task(2, "s1/p0/feedback/1", [
            _annotation(4, ANN, [_choices("decision", ["edit"]), _text("human_text", "Net displacement, signed.")]),
            _annotation(5, 3, [], was_cancelled=True),  # skipped in Label Studio: nothing was chosen
        ]),
        _task(3, "s9/p4/feedback/0", [_annotation(6, ANN, [_choices("decision", ["accept"])])]),
        _task(4, "s1/p0/feedback/2", [_annotation(7, ANN, [_choices("decision", ["reject"])])], session="other.session"),
    ]
    path = tmp_path / "project-1.json"
    path.write_text(json.dumps(tasks))
    return path


def test_annotations_become_decisions_and_the_rest_is_named(tmp_path, capsys):
    source = make_source(tmp_path / "run.session")
    merged = tmp_path / "ls.session"
    code, out, err = cli(capsys, "import", ls_export(tmp_path), "--session", source, "-o", merged)
    assert code == 0, err
    assert "imported 3 decisions by 2 annotators (ann@example.com, labelstudio-user-3)" in out
    assert "1 annotations cancelled" in out and "1 carried from the export" in out
    assert "task 3 (proposal s9/p4/feedback/0, session run.session)" in err
    assert "task 4 (proposal s1/p0/feedback/2, session other.session)" in err
    assert "annotator not named: labelstudio-user-3 (1 annotations" in err and "give --user 3=NAME" in err
    with SessionStore.open(merged, read_only=True) as store:
        log = decision_log(store)
        assert store.config["merged"]["annotators"] == ["ann@example.com", "labelstudio-user-3"]
        assert len(store.proposals()) == 5  # every proposal of the source, its own decisions not copied
    got = {(d.proposal_id, d.annotator): d for d in log}
    assert set(got) == {("s1/p0/feedback/0", "ann@example.com"), ("s1/p0/feedback/0", "labelstudio-user-3"),
                        ("s1/p0/feedback/1", "ann@example.com")}  # no decision of the cancelled annotation
    first = got[("s1/p0/feedback/0", "ann@example.com")]
    assert (first.kind, first.labels, first.rationale, first.by) == ("accept", ("grounded",), "names the error", "human")
    edit = got[("s1/p0/feedback/1", "ann@example.com")]
    assert (edit.kind, edit.text) == ("edit", "Net displacement, signed.")


def test_user_flag_names_an_annotator_and_strict_refuses_what_is_unmatched(tmp_path, capsys):
    source = make_source(tmp_path / "run.session")
    export = ls_export(tmp_path)
    code, _, err = cli(capsys, "import", export, "--session", source, "-o", tmp_path / "a.session", "--strict")
    assert code == 2
    assert "task 3" in err and "task 4" in err and "labelstudio-user-3" in err and "nothing imported" in err
    assert not (tmp_path / "a.session").exists()
    code, out, err = cli(capsys, "import", export, "--format", "labelstudio", "--session", source,
                         "-o", tmp_path / "b.session", "--user", "3=bob")
    assert code == 0 and "(ann@example.com, bob)" in out and "not named" not in err
    code, _, err = cli(capsys, "import", export, "--session", source, "-o", tmp_path / "c.session", "--user", "bob")
    assert code == 2 and "--user 'bob'" in err


def test_a_file_that_is_not_a_labelstudio_export_is_refused_clearly(tmp_path, capsys):
    source = make_source(tmp_path / "run.session")
    bad = tmp_path / "x.json"
    bad.write_text('{"data": {}}')
    code, _, err = cli(capsys, "import", bad, "--format", "labelstudio", "--session", source, "-o", tmp_path / "o")
    assert code == 2 and "not a Label Studio JSON export" in err
    bad.write_text(json.dumps([_task(1, "s9/none", [])]))
    code, _, err = cli(capsys, "import", bad, "--session", source, "-o", tmp_path / "o")
    assert code == 2 and "no annotation made in Label Studio matches" in err
    assert not (tmp_path / "o").exists()


def test_a_merged_set_exported_comes_back_with_the_latest_annotation_standing(tmp_path, capsys):
    from tests.test_annotation_cli import annotated_pair

    merged = annotated_pair(tmp_path)  # ann's and bob's packets, merged: the README's team flow
    out = tmp_path / "team.labelstudio.json"
    assert cli(capsys, "export", merged, "--format", "labelstudio", "-o", out)[0] == 0
    tasks = []
    for n, t in enumerate(json.loads(out.read_text()), 1):
        # What Label Studio's JSON export gives back: the imported annotation's "id" kept as import_id.
        carried = {**t["annotations"][0], "id": 100 + n, "import_id": t["annotations"][0]["id"], "completed_by": 1}
        tasks.append({**t, "id": n, "annotations": [carried]})
    carol = {"id": 4, "email": "carol@example.com"}
    first = next(t for t in tasks if t["data"]["proposal_id"] == "s1/p0/feedback/1")
    first["annotations"] += [_annotation(2, carol, [_choices("decision", ["reject"])]),
                             _annotation(1, carol, [_choices("decision", ["accept"])])]  # made earlier
    pulled = tmp_path / "project.json"
    pulled.write_text(json.dumps(tasks))
    code, stdout, err = cli(capsys, "import", pulled, "--session", merged, "-o", tmp_path / "c.session", "--strict")
    assert code == 0, err
    assert f"{len(tasks)} carried from the export" in stdout
    with SessionStore.open(tmp_path / "c.session", read_only=True) as store:
        assert store.config["merged"]["annotators"] == ["carol@example.com"]
        assert store.config["merged"]["source"] == "merged.session"
        assert len(decision_log(store)) == 2  # carol's two, nothing carried
        standing = {pid: d.kind for pid, d in current_decisions(store).items()}
    assert standing == {"s1/p0/feedback/1": "reject"}  # the later of carol's two annotations
