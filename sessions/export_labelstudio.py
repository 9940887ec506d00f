"""Annotation data as a Label Studio import: a JSON list of tasks, and the
labeling config (XML) that makes the rubric its label schema.

Label Studio rather than Argilla: a Label Studio project is made from two
plain files (paste the config, import the tasks), with the annotations
already made carried along in each task, and its SDK checks both offline
(``label_studio_sdk.label_interface.LabelInterface``).  Argilla datasets are
created through a running Argilla server; it has no import file to write.

One task per reviewed proposal (and annotator): the error set, the parent
instruction and the proposal's text as data; the decision, the rubric labels
and the rationale as an annotation.  ``--format labelstudio`` writes
``NAME.labelstudio.json`` and, beside it, ``NAME.labelstudio.xml``.
"""
from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import quoteattr

from reflectloop.core.rubric import Rubric

DECISIONS = ("accept", "edit", "reject", "add")
# Label Studio control names; the labels of each proposal kind get their own control.
TEXT, DECISION, RATIONALE, EDIT = "proposal", "decision", "rationale", "human_text"


def labels_control(kind: str) -> str:
    return f"labels_{kind}"


def labeling_config(rubric: Rubric) -> str:
    """The XML labeling config: each kind's labels show only on tasks of that kind."""
    parts = ['<View>',
             '  <Header value="$heading"/>',
             '  <Text name="errors" value="$errors_text"/>',
             '  <Text name="parent" value="$parent_instruction"/>',
             f'  <Text name="{TEXT}" value="$text"/>',
             f'  <Choices name="{DECISION}" toName="{TEXT}" choice="single" required="true">']
    parts += [f'    <Choice value="{d}"/>' for d in DECISIONS]
    parts.append('  </Choices>')
    for kind in dict.fromkeys(k for label in rubric.labels for k in label.kinds):
        parts.append(f'  <View visibleWhen="choice-selected" whenTagName="kind" whenChoiceValue={quoteattr(kind)}>')
        parts.append(f'    <Choices name="{labels_control(kind)}" toName="{TEXT}" choice="multiple">')
        parts += [f'      <Choice value={quoteattr(x.id)} hint={quoteattr(x.text)}/>' for x in rubric.for_kind(kind)]
        parts += ['    </Choices>', '  </View>']
    parts += [f'  <Choices name="kind" toName="{TEXT}" choice="single" readonly="true">']
    parts += [f'    <Choice value="{k}"/>' for k in ("feedback", "candidate", "demonstration")]
    parts += ['  </Choices>',
              f'  <TextArea name="{EDIT}" toName="{TEXT}" placeholder="the edited text (edit) or your own (add)"/>',
              f'  <TextArea name="{RATIONALE}" toName="{TEXT}" placeholder="why"/>',
              '</View>']
    return "\n".join(parts) + "\n"


def _errors_text(errors: list[dict]) -> str:
    return "\n\n".join(f"input: {e['input']}\ngold: {' | '.join(e['gold'])}\noutput: {e['output']}" for e in errors)


def _choices(name: str, values: list[str]) -> dict:
    return {"from_name": name, "to_name": TEXT, "type": "choices", "value": {"choices": values}}


def _textarea(name: str, text: str) -> dict:
    return {"from_name": name, "to_name": TEXT, "type": "textarea", "value": {"text": [text]}}


def task(row: dict, rubric: Rubric) -> dict:
    """A Label Studio task of one export record, its decision as the annotation."""
    kind = row["kind"]
    text = row["llm_text"] if row["llm_text"] is not None else row["human_text"] or ""
    result = [_choices("kind", [kind]), _choices(DECISION, [row["decision"]])]
    offered = {x.id for x in rubric.for_kind(kind)}
    labels = [x for x in row.get("labels") or () if x in offered]
    if labels:
        result.append(_choices(labels_control(kind), labels))
    if row.get("human_text") and row["author"] == "llm":
        result.append(_textarea(EDIT, row["human_text"]))
    if row.get("rationale"):
        result.append(_textarea(RATIONALE, row["rationale"]))
    data = {
        "heading": f"step {row['step']} · {kind} · {row['author']} · {row['proposal_id']}",
        "errors_text": _errors_text(row["errors"]),
        "parent_instruction": row["parent_instruction"] or "",
        "text": text,
        "proposal_id": row["proposal_id"],
        "session": row["session"],
    }
    meta = {"annotator": row.get("annotator") or "", "decided_by": row["decided_by"], "decided_at": row["decided_at"]}
    return {"data": data, "annotations": [{"result": result}], "meta": meta}


def config_path(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".json") + ".xml")


def write_labelstudio(rows: list[dict], out: Path, rubric: Rubric) -> None:
    tasks = [task(r, rubric) for r in rows]
    # Label Studio keeps an imported annotation's "id" as its import_id: the
    # import (sessions/import_labelstudio.py) tells the session's own decisions
    # carried here from those made in Label Studio by it.
    for n, t in enumerate(tasks, 1):
        t["annotations"][0]["id"] = n
    out.write_text(json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")
    config_path(out).write_text(labeling_config(rubric))
