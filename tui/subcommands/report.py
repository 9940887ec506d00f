"""``reflectloop report PATH … -o report.html``: one self-contained HTML file
with the score curves per method (PNG plots embedded as data URIs), the audit
tables, the human-vs-LLM reflections side by side, and method-vs-method
comparisons.  Nothing is fetched when the file is opened."""
from __future__ import annotations

import argparse
import base64
import html
import io
import time
from pathlib import Path

from reflectloop.tui.subcommands import plain
from reflectloop.tui.subcommands.audit import add_audit_options, run_audit


def register(sub) -> None:
    p = sub.add_parser("report", help="write one self-contained HTML report: score curves, audit, human vs LLM",
                       description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_audit_options(p)
    p.add_argument("-o", "--output", type=Path, default=Path("report.html"), help="the HTML file (default: report.html)")
    p.add_argument("--title", default="reflectloop report", help="the report's title")
    p.set_defaults(func=main)


# --------------------------------------------------------------------- plots
def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def png_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _label(audit) -> str:
    return f"{audit.method or '?'} ({audit.name})"


def curves_plot(audits) -> str | None:
    """Dev best (solid) and test of the best (dashed) per step, one colour per session."""
    fig = curves_figure(audits)
    return png_data_uri(fig) if fig is not None else None


def curves_figure(audits):
    shown = [a for a in audits if a.curve]
    if not shown:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for k, a in enumerate(shown):
        colour = f"C{k % 10}"
        steps = [r["step"] for r in a.curve]
        axes[0].plot(steps, [r["dev_best"] for r in a.curve], "-o", color=colour, label=_label(a))
        tested = [r for r in a.curve if r["test"] is not None]
        if tested:
            axes[1].plot([r["step"] for r in tested], [r["test"] for r in tested], "--s", color=colour, label=_label(a))
    for ax, title in zip(axes, ("dev score of the best prompt", "test score of the best prompt")):
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        _integer_steps(ax, [r["step"] for a in shown for r in a.curve])
    axes[0].set_ylabel("accuracy")
    axes[0].legend(fontsize=8, loc="best")
    return fig


def _integer_steps(ax, steps: list[int]) -> None:
    """Whole-number step ticks.  A one-step session has a single x value, around
    which matplotlib would draw fractional ticks (-0.04 … 0.04): pad the axis by
    half a step and allow one tick."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlim(min(steps) - 0.5, max(steps) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def similarity_plot(audit) -> str | None:
    values = list(audit.repetition.items_across_sets.values)
    control = audit.control
    if not values and not (control and control.samples):
        return None
    plt = _pyplot()
    panels = [p for p, on in (("hist", bool(values)), ("control", bool(control and control.samples))) if on]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.4), squeeze=False)
    if "hist" in panels:
        ax = axes[0][0]
        ax.hist(values, bins=10, range=(0, 1), color="C0", edgecolor="white")
        ax.set_title("feedback similarity across error sets")
        ax.set_xlabel(f"{audit.repetition.backend} cosine")
        ax.set_ylabel("pairs")
    if "control" in panels:
        ax = axes[0][-1]
        dists = control.by_condition()
        names = [c for c, d in dists.items() if d.n]
        means = [dists[c].mean for c in names]
        ax.bar(names, means, color=["C2" if c == "same" else "C1" for c in names])
        for x, (c, m) in enumerate(zip(names, means)):
            ax.text(x, m + 0.02, f"{m:.2f} (n={dists[c].n})", ha="center", fontsize=8)
        ax.set_ylim(0, 1.1)
        ax.set_title("control: similarity to the recorded feedback")
    return png_data_uri(fig)


# ---------------------------------------------------------------------- html
CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1150px;
       color: #1d1d1f; line-height: 1.4; padding: 0 1em; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #bbb; }
h3 { margin-top: 1.5em; }
table { border-collapse: collapse; margin: .6em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f0f0f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.win td { background: #e6f6e6; } tr.loss td { background: #fbe7e7; }
ul.notes { font-size: 13px; color: #444; }
pre { background: #f7f7f9; padding: .6em; font-size: 12px; overflow-x: auto; }
img { max-width: 100%; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.pair div { background: #fafafa; border: 1px solid #ddd; padding: .5em; white-space: pre-wrap; font-size: 13px; }
.muted { color: #666; font-size: 13px; }
"""


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def _is_num(cell: str) -> bool:
    from reflectloop.core.analysis.tables import _NUMERIC

    return bool(_NUMERIC.match(cell))


def table_html(t) -> str:
    parts = [f'<h3 id="{esc(t.key)}">{esc(t.title)}</h3>']
    if t.rows:
        parts.append("<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in t.headers) + "</tr></thead><tbody>")
        for row in t.rows:
            text = " ".join(row)
            cls = ' class="win"' if "win (p<" in text else ' class="loss"' if "loss (p<" in text else ""
            cells = "".join(f'<td class="num">{esc(c)}</td>' if _is_num(c) else f"<td>{esc(c)}</td>" for c in row)
            parts.append(f"<tr{cls}>{cells}</tr>")
        parts.append("</tbody></table>")
    else:
        parts.append('<p class="muted">(nothing to show)</p>')
    if t.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in t.notes) + "</ul>")
    if t.block:
        parts.append(f"<pre>{esc(t.block)}</pre>")
    return "\n".join(parts)


def side_by_side(audit) -> str:
    rows = audit.human_llm.rows
    if not rows:
        return ""
    parts = ["<h3>Human and LLM reflections on the same errors</h3>"]
    for r in rows:
        c = r.comparison
        verdict = "-" if c is None or not c.n else (f"{c.verdict}, p = {c.p:.3g}" if c.significant else f"tie (n.s., p = {c.p:.3g})")
        parts.append(f'<p class="muted">step {esc(r.step)}, parent {esc(r.parent_id)} · agreement {r.agreement:.3f} · '
                     f"human refinement vs LLM refinement: {esc(verdict)}</p>")
        parts.append(f'<div class="pair"><div><b>human</b>\n{esc(r.human_text)}</div>'
                     f'<div><b>LLM{" (edited)" if r.llm_edited else ""}</b>\n{esc(r.llm_text)}</div></div>')
    return "\n".join(parts)


def render_html(run, *, title: str = "reflectloop report") -> str:
    from reflectloop.core.analysis import methods_table, session_tables

    body = [f"<h1>{esc(title)}</h1>",
            f'<p class="muted">generated {esc(time.strftime("%Y-%m-%d %H:%M:%S"))} · similarity: {esc(run.backend_name)} · '
            f"{len(run.audits)} session(s)</p>"]
    body.append("<h2>Score curves per method</h2>")
    uri = curves_plot(run.audits)
    body.append(f'<img alt="score curves per method" src="{uri}">' if uri else '<p class="muted">no step records</p>')
    if run.methods:
        body.append(table_html(methods_table(run.methods)))
    for a in run.audits:
        body.append(f"<h2>{esc(a.method or '?')} — {esc(a.name)}</h2>")
        uri = similarity_plot(a)
        if uri:
            body.append(f'<img alt="feedback similarity of {esc(a.name)}" src="{uri}">')
        for t in session_tables(a):
            body.append(table_html(t))
            if t.key == "human_llm":
                body.append(side_by_side(a))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(run, output: Path, *, title: str = "reflectloop report") -> Path:
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(render_html(run, title=title), encoding="utf-8")
    tmp.replace(output)
    return output


def main(args) -> int:
    import sys

    run = run_audit(args)
    path = write_report(run, args.output, title=args.title)
    print(f"report: {path}", file=sys.stderr)
    for data in run.datas:
        for note in data.notes:
            print(f"{data.name}: {note}", file=sys.stderr)
    return 0
