"""The audit as tables: one model (title, headers, rows, notes, an optional
preformatted block) that the command line prints as plain text, the HTML
report renders as <table>, and the TUI shows — so all three show the same
numbers."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Sequence

from reflectloop.core.analysis.audit import MethodComparison, SessionAudit
from reflectloop.core.analysis.grounding import THRESHOLD
from reflectloop.core.analysis.repetition import NEAR_DUPLICATE, Distribution
from reflectloop.core.analysis.stats import ALPHA, Comparison, fmt_ci, fmt_p, text_histogram

SIG_NOTE = (f"win/loss only when the exact McNemar test on the paired examples gives p < {ALPHA}; "
            "otherwise tie. 95% CI: paired bootstrap over examples (seeded).")


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    block: str | None = None  # preformatted text shown under the table (histograms)
    key: str = ""  # a stable name: "summary", "repetition", ...

    def to_dict(self) -> dict:
        return {"key": self.key, "title": self.title, "headers": self.headers, "rows": self.rows,
                "notes": self.notes, "block": self.block}


def num(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}f}"


def pct(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{100 * x:.0f}%"


def short(text: str, n: int = 60) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"


def verdict(c: Comparison | None) -> str:
    if c is None or c.n == 0:
        return "-"
    return f"{c.verdict} (p<{ALPHA})" if c.significant else "tie (n.s.)"


def comparison_cells(c: Comparison | None) -> list[str]:
    if c is None or c.n == 0:
        return ["-"] * 7
    return [str(c.n), num(c.a_score), num(c.b_score), f"{c.diff:+.3f}", fmt_ci(c.ci_low, c.ci_high), fmt_p(c.p), verdict(c)]


def _dist_row(label: str, d: Distribution) -> list[str]:
    q = d.quantiles
    return [label, str(d.n), num(d.mean if d.n else None), *(num(x) if d.n else "-" for x in q)]


def session_tables(a: SessionAudit) -> list[Table]:
    tables = [summary_table(a), curve_table(a), repetition_table(a)]
    if a.control is not None:
        tables.append(control_table(a))
    tables += [grounding_table(a), human_llm_table(a), following_table(a), revisions_table(a)]
    return tables


def summary_table(a: SessionAudit) -> Table:
    h = a.headline()
    rows = [
        ["session", a.name], ["task", a.task or "-"], ["method", a.method or "-"], ["source", a.source],
        ["steps", str(len(a.curve))],
        ["feedback similarity across error sets (mean)", num(h["feedback_similarity_across_error_sets"])],
        [f"feedback with a near-duplicate (>= {NEAR_DUPLICATE}) on another error set", pct(h["near_duplicate_feedback"])],
        ["control: similarity, same errors re-asked", num(h["control_same"])],
        ["control: similarity, different errors", num(h["control_different"])],
        ["control: insensitivity (different / same; ~1 = ignores errors)", num(h["control_insensitivity"])],
        ["LLM feedback referring to no error", pct(h["ungrounded_llm_feedback"])],
        ["human vs LLM refinements, significant win/tie/loss", h["human_vs_llm"] or "-"],
        ["format compliance (mean over prompts)", pct(h["format_rate"])],
        ["step adherence (mean over step-by-step prompts)", pct(h["step_adherence"])],
        ["revisions that changed no output", pct(h["unchanged_revisions"])],
    ]
    return Table(f"Audit of {a.name}", ["measure", "value"], rows, list(a.notes), key="summary")


def curve_table(a: SessionAudit) -> Table:
    rows = [[str(r["step"]), num(r["dev_best"]), num(r["dev_mean_beam"]), num(r["test"])] for r in a.curve]
    return Table("Scores per step", ["step", "dev best", "dev mean of beam", "test of best"], rows, key="curve")


def repetition_table(a: SessionAudit) -> Table:
    r = a.repetition
    rows = [
        _dist_row("reflections, different steps", r.sets_across_steps),
        _dist_row("reflections, same step, different parents", r.sets_across_parents),
        _dist_row("feedback items, different error sets", r.items_across_sets),
    ]
    notes = [
        f"{r.n_items} {r.author} feedback items on {r.n_sets} error sets; similarity: {r.backend} cosine.",
        (f"{pct(r.near_duplicates)} of the items have a near-duplicate (>= {NEAR_DUPLICATE}) written on another "
         "error set." if r.n_sets > 1 else "only one error set: nothing to compare across error sets yet."),
    ]
    if r.per_step:
        notes.append("mean similarity to other steps' feedback, by step: "
                     + ", ".join(f"{k}: {num(v)}" for k, v in r.per_step.items()))
    block = None
    if r.items_across_sets.n:
        block = "similarity of feedback items on different error sets\n" + text_histogram(list(r.items_across_sets.values))
    return Table("Repetitiveness of feedback", ["pairs of", "n", "mean", "min", "q25", "median", "q75", "max"],
                 rows, notes, block, key="repetition")


def control_table(a: SessionAudit) -> Table:
    c = a.control
    assert c is not None  # only called for an audit that ran the control
    overlap = {cond: [s.overlap for s in c.samples if s.condition == cond] for cond in c.by_condition()}
    rows = [_dist_row(cond, d) + [pct(sum(overlap[cond]) / len(overlap[cond])) if overlap[cond] else "-"]
            for cond, d in c.by_condition().items()]
    notes = [
        "similarity of re-asked feedback to the recorded feedback on the original error set "
        f"({c.backend} cosine); same = same errors, new sample (the baseline).",
        f"same {num(c.same)} vs different {num(c.different)}: insensitivity {num(c.insensitivity)} "
        "(near 1 or above: the feedback does not follow the errors — the study's finding 1).",
    ]
    fewest = min((d.n for d in c.by_condition().values() if d.n), default=0)
    if fewest and fewest < 3:
        notes.append(f"only {fewest} sample(s) in some condition: indicative, not stable — more with "
                     "--control-sets and --control-samples.")
    notes.append("overlap: share of the original error examples the condition's error set shows too "
                 "(shuffled is the same examples in another order when the parent has no other errors).")
    notes += [f"skipped step {s} {p} {cond}: {why}" for s, p, cond, why in c.skipped]
    return Table("Control: the optimizer re-asked with other errors", ["condition", "n", "mean", "min", "q25", "median",
                 "q75", "max", "overlap"], rows, notes, key="control")


def grounding_table(a: SessionAudit) -> Table:
    g = a.grounding
    rows = []
    for item in g.items:
        refers = ", ".join(f"#{i + 1}" for i in item.refers) or "none"
        why = "; ".join(m[0] for m in item.matched if m)[:60] or "-"
        rows.append([item.feedback_id, item.author, str(item.n_errors), refers,
                     " ".join(str(s) for s in item.scores) or "-", why])
    notes = []
    for author in ("llm", "human"):
        share = g.ungrounded_share(author)
        if share is not None:
            notes.append(f"{author}: {pct(share)} of {len([i for i in g.of(author) if i.n_errors])} feedback texts "
                         f"refer to none of their errors; mean share of errors referred to {pct(g.coverage(author))}.")
    notes.append(f"refers = shares distinctive words/n-grams of the error's input, output or gold (weight >= "
                 f"{THRESHOLD}; word 1, 2-gram 2, 3-gram 3) or names it (\"Example 2\").")
    return Table("Grounding: which errors each feedback refers to",
                 ["feedback", "author", "errors", "refers to", "overlap per error", "strongest shared feature"],
                 rows, notes, key="grounding")


def human_llm_table(a: SessionAudit) -> Table:
    h = a.human_llm
    rows = []
    for r in h.rows:
        c = r.comparison
        rows.append([str(r.step), r.parent_id, num(r.agreement), short(r.human_text, 40),
                     short(r.llm_text, 40) + (" (edited)" if r.llm_edited else ""), *comparison_cells(c)]
                    + ([r.note] if r.note else [""]))
    counts, raw = h.counts(), h.raw_counts()
    notes = [
        f"{len(h.rows)} error sets with both a human and an LLM reflection; {len(h.compared)} with refinements from "
        "both, each side's best candidate on dev compared on the same dev examples (a = LLM, b = human).",
        f"human refinements, significant: {counts['win']} win / {counts['tie']} tie / {counts['loss']} loss; "
        f"untested: {raw['better']} higher / {raw['equal']} equal / {raw['worse']} lower; "
        f"mean difference (human - LLM) {num(h.mean_diff)}; mean agreement of the texts {num(h.mean_agreement)}.",
        SIG_NOTE,
    ]
    return Table("Human vs LLM reflection", ["step", "parent", "agreement", "human feedback", "LLM feedback", "n",
                 "LLM ref.", "human ref.", "diff", "95% CI", "p", "verdict", "note"], rows, notes, key="human_llm")


def following_table(a: SessionAudit) -> Table:
    f = a.following
    rows = [[p.prompt_id, str(p.step), p.origin, str(p.n), num(p.score), pct(p.format_rate),
             "yes" if p.stepwise else "no", str(p.steps) if p.stepwise else "-", pct(p.step_adherence),
             pct(p.step_mentions)] for p in f.prompts]
    notes = [
        f"format compliance: share of outputs with the JSON answer; mean {pct(f.format_rate)}.",
        f"step adherence (step-by-step prompts only): all numbered steps marked in order; mean {pct(f.step_adherence)}.",
    ]
    return Table("Instruction following per prompt (dev)", ["prompt", "step", "origin", "n", "dev", "format",
                 "step-wise", "steps", "in order", "any step"], rows, notes, key="following")


def revisions_table(a: SessionAudit) -> Table:
    f = a.following
    rows = [[r.child_id, r.parent_id, *comparison_cells(r.comparison), pct(r.same_outputs), pct(r.same_answers)]
            for r in f.revisions]
    notes = [f"a = parent, b = child, on the dev examples both scored. {SIG_NOTE}",
             f"{pct(f.unchanged_share)} of the revisions left every output the same (the target ignored the change)."]
    return Table("Revisions: parent vs child", ["child", "parent", "n", "parent", "child", "diff", "95% CI", "p",
                 "verdict", "same outputs", "same answers"], rows, notes, key="revisions")


def methods_table(comparisons: Sequence[MethodComparison]) -> Table:
    rows = [[m.task, m.split, f"{m.a_method} ({m.a_session})", f"{m.b_method} ({m.b_session})",
             *comparison_cells(m.comparison)] for m in comparisons]
    notes = ["each session's final best prompt; b against a on the examples both scored; only sessions with the "
             "same task, data, seed and split sizes are compared.", SIG_NOTE]
    return Table("Method vs method", ["task", "split", "a", "b", "n", "a score", "b score", "diff", "95% CI", "p",
                 "verdict"], rows, notes, key="methods")


_NUMERIC = re.compile(r"^[-+]?(\d+(\.\d+)?%?|<0\.001)$")


def render_text(tables: Sequence[Table], *, max_cell: int = 70) -> str:
    """Plain-text tables, columns padded, numbers right-aligned."""
    out = []
    for t in tables:
        out.append(t.title)
        out.append("=" * len(t.title))
        if t.rows:
            cells = [[_cell(c, max_cell) for c in row] for row in t.rows]
            head = [_cell(h, max_cell) for h in t.headers]
            ncol = max(len(head), *(len(r) for r in cells))
            head += [""] * (ncol - len(head))
            cells = [r + [""] * (ncol - len(r)) for r in cells]
            widths = [max(len(head[i]), *(len(r[i]) for r in cells)) for i in range(ncol)]
            out.append("  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
            out.append("  ".join("-" * w for w in widths))
            for r in cells:
                out.append("  ".join(c.rjust(w) if _NUMERIC.match(c) else c.ljust(w) for c, w in zip(r, widths)).rstrip())
        else:
            out.append("(nothing to show)")
        for n in t.notes:
            out.append(f"  * {n}")
        if t.block:
            out.append("")
            out.extend("  " + line for line in t.block.splitlines())
        out.append("")
    return "\n".join(out)


def _cell(value: object, limit: int) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
