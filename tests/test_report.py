"""``reflectloop report``: one self-contained, escaped HTML file with
embedded PNG plots, on hand-built sessions (the real-model report is in
test_audit_real.py)."""
from __future__ import annotations

import base64
import re

from reflectloop.sessions.store import SessionStore
from reflectloop.core.types import Proposal
from tests.test_audit import H1, build_session, cli

HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


def test_report_is_one_self_contained_escaped_html_file(tmp_path):
    session = build_session(tmp_path / "hand.session")
    with SessionStore.open(session) as store:  # a feedback text that must not become markup
        store.add_proposal(Proposal(f"s2/{H1}/feedback/1", 2, "feedback", H1, HOSTILE, ()))
    out = tmp_path / "out" / "report.html"
    assert cli(["report", str(session), "-o", str(out), "--title", "Audit <1>"]) == 0
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<script>" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<title>Audit &lt;1&gt;</title>" in html
    # Nothing is fetched: every image is a data URI, no external references.
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) >= 2  # score curves + the session's similarity plot
    for b64 in images:
        assert base64.b64decode(b64).startswith(b"\x89PNG\r\n\x1a\n")
    for title in ("Score curves per method", "Repetitiveness of feedback", "Grounding", "Human vs LLM reflection",
                  "Human and LLM reflections on the same errors", "Instruction following", "Revisions"):
        assert title in html
    assert "win (p&lt;0.05)" in html and "tie (n.s.)" in html
    assert 'class="win"' in html


def test_report_of_several_sessions_has_a_method_table(tmp_path):
    folder = tmp_path / "cmp"
    build_session(folder / "apo.session", config={"task": "hand:built", "method": "apo"})
    build_session(folder / "abo.session", config={"task": "hand:built", "method": "abo"})
    out = tmp_path / "r.html"
    assert cli(["report", str(folder), "-o", str(out)]) == 0
    html = out.read_text()
    assert "Method vs method" in html and html.count("<h2>") == 3  # curves + 2 sessions
    assert "abo (abo.session)" in html and "apo (apo.session)" in html
