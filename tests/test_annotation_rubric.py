"""The rubric: the default's labels, custom rubrics from TOML and their
refusals, and the annotator's name."""
from __future__ import annotations

import getpass

import pytest

from reflectloop.core.rubric import (
    DEFAULT_RUBRIC,
    RubricError,
    load_rubric,
    resolve_annotator,
    rubric_from_toml,
    rubric_to_toml,
)

GOOD = """
name = "team"
[[label]]
id = "grounded"
text = "points at the errors"
kinds = ["feedback", "demonstration"]
key = "g"
[[label]]
id = "faithful"
text = "does what the feedback says"
kinds = ["candidate"]
key = "g"
"""


def test_default_rubric_asks_the_studys_questions():
    assert [x.id for x in DEFAULT_RUBRIC.for_kind("feedback")] == [
        "grounded", "plausible_cause", "actionable", "generic", "wrong"]
    assert [x.id for x in DEFAULT_RUBRIC.for_kind("candidate")] == ["follows_feedback", "changes_behaviour"]
    assert load_rubric(None) is DEFAULT_RUBRIC
    assert rubric_from_toml(rubric_to_toml(DEFAULT_RUBRIC)) == DEFAULT_RUBRIC


def test_custom_rubric_from_toml(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text(GOOD)
    rubric = load_rubric(path)
    assert rubric.name == "team"
    assert [x.id for x in rubric.for_kind("demonstration")] == ["grounded"]
    # The same key on labels of different kinds is allowed: a card shows one kind.
    assert [x.key for x in rubric.labels] == ["g", "g"]
    rubric.check_labels("candidate", ("faithful",))
    with pytest.raises(RubricError, match="not in rubric 'team' for candidate"):
        rubric.check_labels("candidate", ("grounded",))


@pytest.mark.parametrize("body, message", [
    ("name = 'x'", "at least one \\[\\[label\\]\\]"),
    ("[[label]]\nid = 'Bad Id'\ntext = 't'\nkinds = ['feedback']\nkey = '1'", "id must be lower-case"),
    ("[[label]]\nid = 'a'\ntext = 't'\nkinds = ['review']\nkey = '1'", "kinds must be a non-empty list"),
    ("[[label]]\nid = 'a'\ntext = 't'\nkinds = ['feedback']\nkey = 'a'", "taken by the review cards"),
    ("[[label]]\nid = 'a'\ntext = 't'\nkinds = ['feedback']\nkey = '12'", "one printable character"),
    ("[[label]]\nid = 'a'\ntext = 't'\nkinds = ['feedback']\nkey = '1'\ncolour = 'red'", "unknown field"),
    ("[[label]]\nid = 'a'\ntext = 't'\nkinds = ['feedback']\nkey = '1'\n"
     "[[label]]\nid = 'b'\ntext = 'u'\nkinds = ['feedback']\nkey = '1'", "used by more than one feedback"),
    ("[[label]]\nid = 'a'\ntext = 't'\nkinds = ['feedback']\nkey = '1'\n"
     "[[label]]\nid = 'a'\ntext = 'u'\nkinds = ['candidate']\nkey = '2'", "appear more than once"),
    ("[[label]\n", "not valid TOML"),
])
def test_bad_rubrics_are_refused_by_name(tmp_path, body, message):
    path = tmp_path / "r.toml"
    path.write_text(body)
    with pytest.raises(RubricError, match=message):
        load_rubric(path)


def test_missing_rubric_file(tmp_path):
    with pytest.raises(RubricError, match="cannot read it"):
        load_rubric(tmp_path / "none.toml")


def test_annotator_flag_then_config_then_login_name():
    assert resolve_annotator("ann", "bob") == "ann"
    assert resolve_annotator(None, "bob") == "bob"
    assert resolve_annotator(None, None) == getpass.getuser()
    with pytest.raises(RubricError, match="letters, digits"):
        resolve_annotator("a,b")
