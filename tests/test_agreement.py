"""Agreement coefficients against values computed by hand (the working is in
each test's comments), and the reflection similarity on the TF-IDF backend."""
from __future__ import annotations

import math

import pytest

from reflectloop.core.analysis.agreement import (
    ReflectionSet,
    agreement,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    reflection_similarity,
)
from reflectloop.core.analysis.text import TfIdfSimilarity
from reflectloop.core.types import Decision


def test_cohen_kappa_two_raters():
    # 10 items, a/b: yes/yes 4, yes/no 1, no/yes 2, no/no 3.
    # p_o = (4+3)/10 = 0.7.  a: yes 5, no 5; b: yes 6, no 4.
    # p_e = (5*6 + 5*4)/100 = 0.5.  kappa = (0.7-0.5)/(1-0.5) = 0.4.
    pairs = [("y", "y")] * 4 + [("y", "n")] + [("n", "y")] * 2 + [("n", "n")] * 3
    ratings = {i: {"a": x, "b": y} for i, (x, y) in enumerate(pairs)}
    assert cohen_kappa(ratings, "a", "b") == pytest.approx(0.4)


def test_cohen_kappa_uses_only_items_both_rated():
    # Item 2 is rated by a only: left out.  Items 0,1: agree (x,x), (y,y):
    # p_o = 1, p_e = (1*1 + 1*1)/4 = 0.5, kappa = 1.
    ratings = {0: {"a": "x", "b": "x"}, 1: {"a": "y", "b": "y"}, 2: {"a": "x"}}
    assert cohen_kappa(ratings, "a", "b") == pytest.approx(1.0)


def test_undefined_agreement_is_nan():
    # Everyone said "accept" on everything: p_e = 1, kappa and alpha are 0/0.
    ratings = {i: {"a": "accept", "b": "accept"} for i in range(3)}
    assert math.isnan(cohen_kappa(ratings, "a", "b"))
    assert math.isnan(fleiss_kappa(ratings, ["a", "b"]))
    assert math.isnan(krippendorff_alpha(ratings))
    assert math.isnan(cohen_kappa({}, "a", "b"))


def test_fleiss_kappa_three_raters():
    # 4 items, 3 raters, categories A/B.
    #   item 1: A A A  -> P_1 = (9-3)/6 = 1
    #   item 2: A A B  -> P_2 = (4+1-3)/6 = 1/3
    #   item 3: B B B  -> P_3 = 1
    #   item 4: A B B  -> P_4 = 1/3
    # P_bar = (1 + 1/3 + 1 + 1/3)/4 = 2/3.  A: 3+2+0+1 = 6 of 12, B: 6 of 12.
    # P_e = 0.25 + 0.25 = 0.5.  kappa = (2/3 - 1/2)/(1/2) = 1/3.
    rows = ["AAA", "AAB", "BBB", "ABB"]
    ratings = {i: dict(zip("xyz", row)) for i, row in enumerate(rows)}
    assert fleiss_kappa(ratings, ["x", "y", "z"]) == pytest.approx(1 / 3)


def test_krippendorff_alpha_with_missing_data():
    # Krippendorff's own nominal example shape, small: 3 raters, 4 units.
    #   u1: a a a   u2: a b (one missing)   u3: b b   u4: c (only one: not pairable)
    # Coincidences (pairs within a unit, weight 1/(m_u - 1)):
    #   u1: 6 ordered a-a pairs / 2 = 3 on (a,a)
    #   u2: (a,b) and (b,a), each 1/1 = 1
    #   u3: (b,b) twice, 1/1 each = 2
    # o_aa = 3, o_ab = o_ba = 1, o_bb = 2.  n_a = 4, n_b = 3, n = 7.
    # alpha = 1 - (n-1) * sum_{c!=k} o_ck / sum_{c!=k} n_c n_k
    #       = 1 - 6 * 2 / (4*3 + 3*4) = 1 - 12/24 = 0.5.
    ratings = {1: {"x": "a", "y": "a", "z": "a"}, 2: {"x": "a", "z": "b"}, 3: {"y": "b", "z": "b"}, 4: {"x": "c"}}
    assert krippendorff_alpha(ratings) == pytest.approx(0.5)


def test_krippendorff_equals_known_two_rater_value():
    # The Cohen data above: 10 units, 2 raters, n = 20 values.
    # o_yy = 2*4 = 8, o_nn = 2*3 = 6, o_yn = o_ny = 1 + 2 = 3.
    # n_y = 8 + 3 = 11, n_n = 6 + 3 = 9.
    # alpha = 1 - 19 * 6 / (2 * 11 * 9) = 1 - 114/198 = 0.424242...
    pairs = [("y", "y")] * 4 + [("y", "n")] + [("n", "y")] * 2 + [("n", "n")] * 3
    ratings = {i: {"a": x, "b": y} for i, (x, y) in enumerate(pairs)}
    assert krippendorff_alpha(ratings) == pytest.approx(1 - 114 / 198)


def test_agreement_rows_on_decisions_and_labels():
    # Two annotators, three feedback cards.
    # decisions: p1 accept/accept, p2 reject/accept, p3 reject/reject.
    #   p_o = 2/3; ann: accept 1, reject 2; bob: accept 2, reject 1;
    #   p_e = (1*2 + 2*1)/9 = 4/9; kappa = (2/3 - 4/9)/(5/9) = 2/5.
    # label "grounded": p1 yes/yes, p2 no/yes, p3 no/no: the same table, 2/5.
    # label "wrong" only on candidates: no feedback card counts, no items.
    def d(pid, kind, who, labels=()):
        return Decision(pid, kind, by="human", labels=labels, annotator=who)

    decisions = [
        d("p1", "accept", "ann", ("grounded",)), d("p1", "accept", "bob", ("grounded",)),
        d("p2", "reject", "ann"), d("p2", "accept", "bob", ("grounded",)),
        d("p3", "reject", "ann"), d("p3", "reject", "bob"),
    ]
    kinds = {"p1": "feedback", "p2": "feedback", "p3": "feedback"}
    rows = agreement(decisions, kinds, [("grounded", ("feedback",)), ("wrong", ("candidate",))])
    by = {r.measure: r for r in rows}
    assert by["decision"].cohen == pytest.approx(0.4)
    assert by["decision"].items == 3 and by["decision"].complete == 3
    assert by["label:grounded"].cohen == pytest.approx(0.4)
    assert by["label:wrong"].items == 0 and math.isnan(by["label:wrong"].alpha)


def test_reflection_similarity_humans_closer_to_each_other():
    # The humans both name the sign error; the LLM's text shares no word with them,
    # so every LLM-human cosine is 0 while the human-human one is positive.
    sets = [ReflectionSet("s1/p0", {"ann": "the sign of the step count is flipped",
                                    "bob": "flipped sign when counting the step"},
                          "ensure clarity and precision in responses")]
    result = reflection_similarity(sets, TfIdfSimilarity())
    assert result.llm_human == 0.0
    assert result.human_human > 0.0
    assert result.per_set[0]["humans"] == 2


def test_reflection_similarity_skips_sets_with_one_human():
    sets = [ReflectionSet("s1/p0", {"ann": "a reason"}, "llm text")]
    result = reflection_similarity(sets, TfIdfSimilarity())
    assert result.per_set == [] and math.isnan(result.human_human)
