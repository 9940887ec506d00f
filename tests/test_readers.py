"""Readers say what they could not read (issue 20, item 7 and the smaller ones
of 8): every command that reads a session reports a damaged line as ``run``
does and ``--strict`` makes it exit 2; a session of an unknown format is
refused by name and listed as unreadable; an export is never written into a
session folder, ``-o -`` is standard output, and the export's metadata says
what was missing; a second writer exits 2 naming the holder; stdout is
scrubbed of API keys; a judge metric with no model borrows the optimizer's.

Real sessions written through the command line against the fake
OpenAI-compatible endpoint; the commands run in-process (``reflectloop.tui.cli.main``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import tests.support.fake_server as fake_server_module
from reflectloop.sessions.store import SessionStore
from tests.support.cli import cli

TINY = ["--steps", "2", "--beam", "1", "--dev-size", "4", "--test-size", "2", "--init-prompts", "2"]
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def finished(capsys, tmp_path, fake) -> Path:
    session = tmp_path / "done.session"
    code, _, err = cli(capsys, "run", "--task", "gen:navigate", *fake, *TINY, "--session", session)
    assert code == 0, err
    return session


def damage_a_decision(session: Path) -> int:
    """Break a line in the middle of the log that holds a decision; its 1-based number."""
    log = session / "log.jsonl"
    lines = log.read_bytes().split(b"\n")
    number = next(i for i, line in enumerate(lines[:-2]) if b'"decisions"' in line and i > 0)
    lines[number] = b"#" + lines[number][1:]
    log.write_bytes(b"\n".join(lines))
    return number + 1


def unread_warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: ") and "unreadable" in line]


# ---------------------------------------------------------- damaged lines
READERS = {
    "best": lambda s, tmp: ["best", s],
    "export": lambda s, tmp: ["export", s, "-o", tmp / "out.jsonl"],
    "audit": lambda s, tmp: ["audit", s, "--section", "summary", "--resamples", "10"],
    "report": lambda s, tmp: ["report", s, "-o", tmp / "report.html", "--resamples", "10"],
    "sessions": lambda s, tmp: ["sessions", "--dir", s.parent],
    "fork": lambda s, tmp: ["fork", s, "--step", "0", "-o", tmp / "forked.session"],
    "assign": lambda s, tmp: ["assign", s, "--annotators", "ann,bob", "-o", tmp / "packets"],
}


@pytest.mark.parametrize("command", sorted(READERS))
def test_every_reader_reports_a_damaged_line_and_strict_refuses_it(capsys, tmp_path, finished, command):
    line = damage_a_decision(finished)
    before = (finished / "log.jsonl").read_bytes()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, _, err = cli(capsys, *READERS[command](finished, out_dir))
    assert code == 0, err
    [warning] = unread_warnings(err)
    assert "done.session" in warning and "1 unreadable line(s)" in warning and f"line {line} " in warning

    strict = tmp_path / "strict"
    strict.mkdir()
    code, out, err = cli(capsys, *READERS[command](finished, strict), "--strict")
    said = out if command == "sessions" else err  # the listing shows it as unreadable
    assert code == 2 and "--strict refuses" in said and f"line {line} " in said, err
    assert "Traceback" not in err
    if command != "sessions":  # nothing was written from a session read in part
        assert list(strict.iterdir()) == []
    assert (finished / "log.jsonl").read_bytes() == before  # a reader changes nothing


def test_merge_reports_a_damaged_packet(capsys, tmp_path, finished):
    code, out, err = cli(capsys, "assign", finished, "--annotators", "ann,bob", "-o", tmp_path / "packets")
    assert code == 0, err
    packets = out.split()
    line = None
    log = Path(packets[0]) / "log.jsonl"
    lines = log.read_bytes().split(b"\n")
    line = len(lines) // 2
    lines[line - 1] = b"#" + lines[line - 1][1:]
    log.write_bytes(b"\n".join(lines))
    code, _, err = cli(capsys, "merge", *packets, "--out", tmp_path / "strict.session", "--strict")
    assert code == 2 and f"line {line} " in err and not (tmp_path / "strict.session").exists()
    code, _, err = cli(capsys, "merge", *packets, "--out", tmp_path / "merged.session")
    assert code == 0, err
    [warning] = unread_warnings(err)
    assert Path(packets[0]).name in warning and f"line {line} " in warning


def test_an_export_says_in_its_metadata_what_it_could_not_read(capsys, tmp_path, finished):
    out = tmp_path / "whole.jsonl"
    code, _, err = cli(capsys, "export", finished, "-o", out)
    assert code == 0, err
    whole = json.loads((tmp_path / "whole.jsonl.meta.json").read_text())
    assert whole["complete"] is True and whole["unread_lines"] == 0 and whole["unread"] is None
    assert whole["records"] == len(out.read_text().splitlines()) and whole["session"] == "done.session"

    line = damage_a_decision(finished)
    for fmt, name, meta in (("jsonl", "part.jsonl", "part.jsonl.meta.json"), ("hf", "part-hf", "part-hf/meta.json")):
        code, _, err = cli(capsys, "export", finished, "--format", fmt, "-o", tmp_path / name)
        assert code == 0, err
        part = json.loads((tmp_path / meta).read_text())
        assert part["complete"] is False and part["unread_lines"] == 1 and f"line {line} " in part["unread"]
        assert part["records"] == whole["records"] - 1
    assert "Incomplete" in (tmp_path / "part-hf" / "README.md").read_text()


def test_importing_an_export_read_in_part_says_so(capsys, tmp_path, finished):
    line = damage_a_decision(finished)
    out = tmp_path / "part.jsonl"
    assert cli(capsys, "export", finished, "-o", out)[0] == 0
    code, _, err = cli(capsys, "import", out, "-o", tmp_path / "strict.session", "--strict")
    assert code == 2 and "read in part" in err and f"line {line} " in err
    assert not (tmp_path / "strict.session").exists()
    code, _, err = cli(capsys, "import", out, "-o", tmp_path / "imported.session")
    assert code == 0 and "warning: part.jsonl was exported from a session read in part" in err


def test_lines_set_aside_by_a_writer_are_still_reported(capsys, tmp_path, finished, fake):
    line = damage_a_decision(finished)
    code, _, err = cli(capsys, "run", "--session", finished, "--steps", "2")  # a writer sets the line aside
    assert code == 0, err
    code, _, err = cli(capsys, "export", finished, "-o", tmp_path / "x.jsonl")
    assert code == 0, err
    [warning] = unread_warnings(err)
    assert "log.jsonl.corrupt" in warning and f"line {line} " in warning
    assert json.loads((tmp_path / "x.jsonl.meta.json").read_text())["unread_lines"] == 1
    code, _, err = cli(capsys, "best", finished, "--strict")
    assert code == 2


# ----------------------------------------------------------- the format
def set_format(session: Path, value: str) -> None:
    log = session / "log.jsonl"
    data = log.read_bytes()
    assert data.count(b'"format":1') == 1
    log.write_bytes(data.replace(b'"format":1', b'"format":' + value.encode()))


@pytest.mark.parametrize("value", ['"1"', "99", "1.5", "null", "true"])
def test_a_session_of_an_unknown_format_is_refused_by_name_everywhere(capsys, tmp_path, finished, fake, value):
    sound = tmp_path / "sound.session"
    code, _, err = cli(capsys, "run", "--task", "gen:navigate", *fake, *TINY, "--steps", "1", "--session", sound)
    assert code == 0, err
    set_format(finished, value)
    for argv in (["best", finished], ["export", finished, "-o", tmp_path / "x.jsonl"],
                 ["audit", finished], ["fork", finished, "--step", "0"], ["run", "--session", finished]):
        code, _, err = cli(capsys, *argv)
        assert code == 2 and "not a session of a known format" in err and "Traceback" not in err, (argv, err)
    code, out, err = cli(capsys, "sessions", "--dir", tmp_path)
    assert code == 0, err
    rows = {line.split()[-1]: line for line in out.splitlines()[1:]}
    assert "unreadable: " in rows["done.session"] and "not a session of a known format" in rows["done.session"]
    assert "unreadable" not in rows["sound.session"]


# ----------------------------------------------------------- export -o
def test_export_refuses_a_path_inside_a_session_folder(capsys, tmp_path, finished):
    before = (finished / "log.jsonl").read_bytes()
    for target, fmt in ((finished / "log.jsonl", "jsonl"), (finished / "sub" / "x.csv", "csv"), (finished, "hf")):
        code, _, err = cli(capsys, "export", finished, "--format", fmt, "-o", target)
        assert code == 2 and "inside the session folder" in err, err
    assert (finished / "log.jsonl").read_bytes() == before
    assert sorted(p.name for p in finished.iterdir()) == ["lock", "log.jsonl"]


def test_export_dash_writes_to_standard_output(capsys, tmp_path, finished, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with SessionStore.open(finished, read_only=True) as store:
        decided = store.decisions()
    code, out, err = cli(capsys, "export", finished, "-o", "-")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["proposal_id"] for r in rows) == sorted(decided)
    assert not (tmp_path / "-").exists() and "standard output" in err
    code, out, err = cli(capsys, "export", finished, "--format", "csv", "-o", "-")
    assert code == 0 and out.splitlines()[0].startswith("session,task,method")
    code, _, err = cli(capsys, "export", finished, "--format", "hf", "-o", "-")
    assert code == 2 and "give -o PATH" in err


# ------------------------------------------------------- a second writer
def test_a_second_writer_exits_2_naming_the_holder(capsys, finished):
    with SessionStore.open(finished):  # this process holds the lock
        code, _, err = cli(capsys, "run", "--session", finished)
    assert code == 2 and "Traceback" not in err
    assert f"pid {os.getpid()}" in err and "open in another reflectloop" in err


# ------------------------------------------------------ stdout scrubbed
KEY = "sk-test-0123456789abcdefECHOED"


@pytest.fixture
def echoing(monkeypatch):
    """The fake model echoes the key into every prompt it writes."""
    answer = fake_server_module.answer_text
    monkeypatch.setattr(fake_server_module, "answer_text",
                        lambda prompt, seed=None: answer(prompt, seed).replace("Variant ", f"Variant {KEY} "))
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


@pytest.mark.parametrize("as_json", [False, True])
def test_run_does_not_print_a_key_the_model_echoes(capsys, tmp_path, fake, echoing, as_json):
    session = tmp_path / "echo.session"
    code, out, err = cli(capsys, "run", "--task", "gen:navigate", *fake, *TINY, "--session", session,
                         *(["--json"] if as_json else []))
    assert code == 0, err
    assert KEY not in out and KEY not in err
    assert "[REDACTED]" in out  # the echoed prompts are printed, the key replaced as the store replaces it
    if as_json:
        assert all(json.loads(line) for line in out.splitlines())
    assert KEY.encode() not in (session / "log.jsonl").read_bytes()


def test_best_and_export_to_stdout_scrub_a_key_held_in_the_session(capsys, tmp_path, finished, monkeypatch):
    # A session written before the key was set holds text equal to it: what is printed now is scrubbed.
    secret = "read the input carefully"
    code, out, _ = cli(capsys, "best", finished)
    assert code == 0 and secret in out
    monkeypatch.setenv("SOME_API_KEY", secret)
    for argv in (["best", finished], ["best", finished, "--format", "json"], ["export", finished, "-o", "-"]):
        code, out, err = cli(capsys, *argv)
        assert code == 0, err
        assert secret not in out and "[REDACTED]" in out
    code, _, err = cli(capsys, "export", finished, "-o", tmp_path / "x.jsonl")
    assert code == 0 and secret not in (tmp_path / "x.jsonl").read_text()


# ---------------------------------------------- the judge with no model
@pytest.fixture
def judging(monkeypatch):
    """The fake model answers a judge's request with a verdict."""
    answer = fake_server_module.answer_text

    def reply(prompt, seed=None):
        if "## Rubric" in prompt and "## Response to judge" in prompt:
            return "Reason: JUDGED plain and correct.\nScore: 4"
        return answer(prompt, seed)

    monkeypatch.setattr(fake_server_module, "answer_text", reply)


def test_plain_explanations_runs_as_the_examples_readme_shows(capsys, tmp_path, fake, judging, monkeypatch):
    monkeypatch.chdir(EXAMPLES.parent)  # the README's commands run from the repository's root
    session = tmp_path / "plain.session"
    code, out, err = cli(capsys, "run", "--task", "file:examples/plain-explanations/task.toml", "--method", "apo",
                         "--steps", "2", "--beam", "1", "--dev-size", "4", "--test-size", "2", *fake,
                         "--session", session)
    assert code == 0, err
    assert "warning: the judge metric names no model: it uses the optimizer's, openai:fake" in err
    with SessionStore.open(session, read_only=True) as store:
        judged = [c for c in store.calls() if c.role == "judge"]
        scores = {ev.score for _, ev in store.evaluations()}
    assert judged and all("Score: 4" in c.text for c in judged if c.text is not None)
    assert scores == {0.75}  # 4 of 5 on every example: the judge's verdicts, not a default
    code, out, err = cli(capsys, "best", session)
    assert code == 0 and out.strip(), err


def test_the_stdout_scrubber_finds_a_key_split_across_writes_and_json_escaped():
    import io

    from reflectloop.sessions.redact import ScrubbedStream

    secret = 'sk-"quoted"-0123456789'
    sink = io.StringIO()
    stream = ScrubbedStream(sink, [secret])
    stream.write("before sk-\"quo")
    stream.write("ted\"-0123456789 after\n")
    stream.write(json.dumps({"text": secret}) + "\n")
    stream.write("partial " + secret)
    stream.flush()
    assert secret not in sink.getvalue() and json.dumps(secret)[1:-1] not in sink.getvalue()
    assert sink.getvalue() == 'before [REDACTED] after\n{"text": "[REDACTED]"}\npartial [REDACTED]'
