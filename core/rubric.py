"""The annotation rubric: the labels an annotator may tick on a card, and who
the annotator is.

The default rubric asks the study's questions about feedback (does it refer
to the errors it was given, name a plausible cause, say what to do; or is it
generic, from prior knowledge of the task, or wrong) and about candidates
(does the prompt follow the feedback, does it change behaviour rather than
wording).  A custom rubric is a TOML file::

    name = "my rubric"
    [[label]]
    id = "grounded"
    text = "refers to the given errors"
    kinds = ["feedback"]          # feedback, candidate, demonstration
    key = "1"                     # one character; unique within a kind
"""
from __future__ import annotations

import getpass
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

KINDS = ("feedback", "candidate", "demonstration")
_ID = re.compile(r"[a-z][a-z0-9_]*\Z")
# Keys of the review cards stay free: accept, edit, reject, and the review
# actions of the annotation phase (done, undo, next undecided card).
RESERVED_KEYS = frozenset("aerdun")


class RubricError(ValueError):
    """A rubric file or an annotator name that cannot be used, and why."""


@dataclass(frozen=True)
class Label:
    id: str
    text: str
    kinds: tuple[str, ...]
    key: str


@dataclass(frozen=True)
class Rubric:
    name: str
    labels: tuple[Label, ...]

    def for_kind(self, kind: str) -> tuple[Label, ...]:
        """The labels a card of this proposal kind offers, in rubric order."""
        return tuple(label for label in self.labels if kind in label.kinds)

    def label(self, label_id: str) -> Label:
        for label in self.labels:
            if label.id == label_id:
                return label
        raise KeyError(label_id)

    def check_labels(self, kind: str, ids: tuple[str, ...]) -> None:
        """Refuse labels the rubric does not offer for this kind."""
        offered = {label.id for label in self.for_kind(kind)}
        bad = [i for i in ids if i not in offered]
        if bad:
            raise RubricError(f"label(s) {', '.join(bad)} are not in rubric {self.name!r} for {kind} "
                              f"(offered: {', '.join(sorted(offered)) or 'none'})")


DEFAULT_RUBRIC = Rubric("study", (
    Label("grounded", "refers to the given errors", ("feedback",), "1"),
    Label("plausible_cause", "names a plausible cause", ("feedback",), "2"),
    Label("actionable", "actionable", ("feedback",), "3"),
    Label("generic", "generic / from prior knowledge", ("feedback",), "4"),
    Label("wrong", "wrong", ("feedback",), "5"),
    Label("follows_feedback", "follows the feedback", ("candidate",), "1"),
    Label("changes_behaviour", "changes behaviour, not only wording", ("candidate",), "2"),
))


def load_rubric(path: str | Path | None) -> Rubric:
    """The rubric of a TOML file, or the default one when ``path`` is None."""
    if path is None:
        return DEFAULT_RUBRIC
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RubricError(f"rubric {path}: cannot read it: {exc.strerror or exc}") from None
    return rubric_from_toml(text, str(path))


def parse_rubric(data: dict, where: str = "rubric") -> Rubric:
    entries = data.get("label")
    if not isinstance(entries, list) or not entries:
        raise RubricError(f"{where}: needs at least one [[label]] table")
    labels = tuple(_label(entry, f"{where}: label {n}") for n, entry in enumerate(entries, 1))
    _check_unique(labels, where)
    name = data.get("name", Path(where).stem)
    if not isinstance(name, str) or not name.strip():
        raise RubricError(f"{where}: name must be a non-empty string")
    return Rubric(name.strip(), labels)


def _label(entry, where: str) -> Label:
    if not isinstance(entry, dict):
        raise RubricError(f"{where}: must be a table with id, text, kinds and key")
    unknown = sorted(set(entry) - {"id", "text", "kinds", "key"})
    if unknown:
        raise RubricError(f"{where}: unknown field(s) {', '.join(unknown)} (known: id, text, kinds, key)")
    label_id, text, kinds, key = (entry.get(k) for k in ("id", "text", "kinds", "key"))
    if not isinstance(label_id, str) or not _ID.match(label_id):
        raise RubricError(f"{where}: id must be lower-case letters, digits and _ starting with a letter, not {label_id!r}")
    if not isinstance(text, str) or not text.strip():
        raise RubricError(f"{where} ({label_id}): text must be a non-empty string")
    if not isinstance(kinds, list) or not kinds or any(k not in KINDS for k in kinds):
        raise RubricError(f"{where} ({label_id}): kinds must be a non-empty list of {', '.join(KINDS)}, not {kinds!r}")
    if not isinstance(key, str) or len(key) != 1 or not key.isprintable() or key.isspace():
        raise RubricError(f"{where} ({label_id}): key must be one printable character, not {key!r}")
    if key.lower() in RESERVED_KEYS:
        raise RubricError(f"{where} ({label_id}): key {key!r} is taken by the review cards "
                          f"({', '.join(sorted(RESERVED_KEYS))})")
    return Label(label_id, text.strip(), tuple(dict.fromkeys(kinds)), key)


def _check_unique(labels: tuple[Label, ...], where: str) -> None:
    ids = [label.id for label in labels]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise RubricError(f"{where}: label id(s) {', '.join(twice)} appear more than once")
    for kind in KINDS:
        keys = [label.key for label in labels if kind in label.kinds]
        clash = sorted({k for k in keys if keys.count(k) > 1})
        if clash:
            raise RubricError(f"{where}: key(s) {', '.join(clash)} are used by more than one {kind} label")


# ------------------------------------------------------------------ annotator
def check_annotator(name: str) -> str:
    """A usable annotator name: packets are named after it and ``--annotators``
    lists are split on commas."""
    name = name.strip()
    if not name:
        raise RubricError("an annotator name must not be empty")
    if not re.fullmatch(r"[\w.@-]+", name):
        raise RubricError(f"annotator name {name!r}: use letters, digits and . _ @ - only")
    return name


def resolve_annotator(flag: str | None, configured: str | None = None) -> str:
    """``--annotator`` when given, else the config's ``annotator``, else the login name."""
    for value in (flag, configured):
        if value:
            return check_annotator(value)
    try:
        return check_annotator(getpass.getuser())
    except (OSError, KeyError, RubricError):
        # No login name (a container without a passwd entry): say so rather than invent one.
        raise RubricError("no annotator name: pass --annotator NAME or set annotator in the config") from None



def rubric_to_toml(rubric: Rubric) -> str:
    """The rubric as the text of its TOML file (packets carry the rubric they
    are labelled with as this text; :func:`rubric_from_toml` reads it back)."""
    lines = [f"name = {_quoted(rubric.name)}"]
    for x in rubric.labels:
        kinds = ", ".join(_quoted(k) for k in x.kinds)
        lines += ["", "[[label]]", f"id = {_quoted(x.id)}", f"text = {_quoted(x.text)}",
                  f"kinds = [{kinds}]", f"key = {_quoted(x.key)}"]
    return "\n".join(lines) + "\n"


def rubric_from_toml(text: str, where: str = "rubric") -> Rubric:
    try:
        return parse_rubric(tomllib.loads(text), where)
    except tomllib.TOMLDecodeError as exc:
        raise RubricError(f"{where}: not valid TOML: {exc}") from None


def _quoted(value: str) -> str:
    # A TOML basic string: JSON's escapes are valid TOML escapes.
    return json.dumps(value, ensure_ascii=False)
