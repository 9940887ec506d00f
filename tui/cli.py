"""The reflectloop command line.  Without a subcommand it starts the TUI."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from reflectloop.core.settings.config import ConfigError, RunConfig, from_dict
from reflectloop.core.llm.base import LLMError
from reflectloop.core.evaluation.prompting import render_prompt
from reflectloop.core.review import AutoReviewer
from reflectloop.core.tasks import TaskError
from reflectloop.core.tasks.promptfoo import default_target
from reflectloop.core.types import StepRecord
from reflectloop.tui.flags import add_settings, add_stored_task_flag, method_list, settings, stored_task_override

DESCRIPTION = """reflectloop: LLM-based prompt optimization with a human in the loop.
Without a subcommand it starts the interactive assistant (as "reflectloop tui")."""


RUN_DESCRIPTION = """Optimize a prompt headless: the auto-reviewer accepts every proposal with usable text.
--method also takes all or a comma list (apo,opro): the methods run on the same task, seed and
initial prompts, and steps.csv is written beside their sessions.  A score that was not measured
(every example errored) is null in --json and "—" in the text.  Exit codes: 0 done, 2 bad input
(a metric or judge that scores no example of step 0 included), 3 stopped by the budget, 4 stopped
because an evaluation errored on more than --max-errored of its examples (the step is not recorded;
fix the cause and continue with --session, which redoes it), 130 interrupted."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reflectloop", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="optimize a prompt headless (the auto-reviewer accepts every proposal)",
                         description=RUN_DESCRIPTION)
    add_settings(run)
    run.add_argument("--session", type=Path, help="session to write, or to continue if it exists")
    add_stored_task_flag(run)
    run.add_argument("--json", action="store_true", help="one JSON object per step on stdout, nothing else")
    run.add_argument("--repeats", type=int, metavar="K",
                     help="repeat the run with seeds seed..seed+K-1; report mean and spread per step")
    tui = sub.add_parser("tui", help="the interactive assistant (the default)")
    add_settings(tui)
    tui.add_argument("--session", type=Path, help="session to open and continue")
    add_stored_task_flag(tui)
    from reflectloop.tui.subcommands import register_all

    register_all(sub)
    return parser


def shown_score(value: float | None) -> str:
    """A score as the text output shows it: "—" when it was not measured, never 0."""
    return "  —  " if value is None else f"{value:.3f}"


def step_line(record: StepRecord, prompt_text: str) -> str:
    short = " ".join(prompt_text.split())
    short = short[:70] + "…" if len(short) > 70 else short
    return (f"step {record.step:>2}  dev best {shown_score(record.dev_best)}  test {shown_score(record.test)}  "
            f"tokens {record.tokens:>7}  calls {record.calls:>4}  best: {short}")


def step_fields(record: StepRecord, prompt_text: str) -> dict:
    """What ``--json`` prints for a step; a score not measured is null."""
    return {
        "step": record.step, "dev_best": record.dev_best, "test": record.test,
        "prompt": prompt_text, "tokens": record.tokens, "calls": record.calls,
    }


async def _run(args: argparse.Namespace) -> int:
    values = settings(args)
    suite_target, notes = default_target(str(values.get("task", "")), values)  # a promptfoo suite's provider
    values.update(suite_target)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if args.repeats:
        from reflectloop.tui.subcommands.repeats import main as repeat_main

        return await repeat_main(args, values)
    methods = method_list(values.get("method", RunConfig().method))
    if len(methods) == 1:
        config = from_dict({**values, "method": methods[0]})
        return await _run_one(args, config, args.session, values)
    return await _compare(args, values, methods)


async def _run_one(args, config: RunConfig, session, values: dict, rows: list | None = None) -> int:
    from reflectloop.sessions.service import open_run, resumable
    from reflectloop.tui.progress import ProgressBar

    run = open_run(config, AutoReviewer(), session=session, overrides=resumable(values) | stored_task_override(args),
                   listeners=(ProgressBar(method=config.method),))
    print(f"session: {run.path}", file=sys.stderr)
    for warning in run.warnings:  # a task file's unused field, a recovered damaged line, ...
        print(f"warning: {warning}", file=sys.stderr)
    extra = {"method": config.method} if rows is not None else {}
    try:
        for record in run.records:  # steps already done when resuming
            _report(args, record, run, extra, rows)
        drive = await run.drive(on_record=lambda record: _report(args, record, run, extra, rows))
    finally:
        await run.close()
    if drive.stopped:
        fix = "fix the cause and " if drive.kind == "errored" else ""
        print(f"\nstopped: {drive.stopped}; {fix}continue with --session {run.path}", file=sys.stderr)
        return 4 if drive.kind == "errored" else 3
    return 0


async def _compare(args, values: dict, methods: list[str]) -> int:
    """Several methods on the same task, seed and initial prompts; a per-step
    CSV beside their sessions."""
    import csv

    from reflectloop.sessions.service import session_path

    base = from_dict({**values, "method": methods[0]})
    # Made by the first session, so input refused before it leaves no folder behind.
    folder = Path(args.session) if args.session else session_path(base, label="compare", folder=True)
    rows: list[dict] = []
    code = 0
    for method in methods:
        config = from_dict({**values, "method": method, **_shared_initial(folder, base)})
        code = await _run_one(args, config, folder / f"{method}.session", values, rows) or code
        if code in (3, 4):
            break
        if not (folder / "initial_prompts.json").exists():
            _save_initial(folder, method)
    out = folder / "steps.csv"
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["method", "step", "dev_best", "dev_mean_beam", "test", "tokens", "calls"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"per-step scores: {out}", file=sys.stderr)
    return code


def _shared_initial(folder: Path, base: RunConfig) -> dict:
    shared = folder / "initial_prompts.json"
    return {"initial_prompts": str(shared)} if shared.exists() and not base.initial_prompts else {}


def _save_initial(folder: Path, method: str) -> None:
    """The first method's accepted initial instructions, for the others."""
    from reflectloop.sessions.store import SessionStore

    with SessionStore.open(folder / f"{method}.session", read_only=True) as store:
        texts = [p.instruction for p in store.prompts().values() if p.step == 0]
    (folder / "initial_prompts.json").write_text(json.dumps(texts, indent=1))


def _report(args, record: StepRecord, run, extra: dict, rows: list | None) -> None:
    state = run.loop.state
    text = render_prompt(state.prompts[record.best_id])
    if args.json:
        print(json.dumps({**extra, **step_fields(record, text)}), flush=True)
    else:
        print((f"{extra['method']:<13}" if extra else "") + step_line(record, text), flush=True)
    if rows is not None:
        beam = [s for i in record.beam if (s := state.dev[i].score) is not None]  # unscored: absent, never 0
        rows.append({
            "method": extra["method"], "step": record.step, "dev_best": record.dev_best,
            "dev_mean_beam": sum(beam) / len(beam) if beam else None, "test": record.test,
            "tokens": record.tokens, "calls": record.calls,
        })


def tui_app(args: argparse.Namespace):
    """The app of ``reflectloop [tui]``: a continued ``--session`` takes the
    RESUMABLE settings, as ``run --session`` does."""
    from reflectloop.sessions.service import resumable
    from reflectloop.tui.app import ReflectLoopApp

    values = settings(args)  # bare "reflectloop" reads the user's config file too
    return ReflectLoopApp(config=from_dict(values), session=getattr(args, "session", None),
                          overrides=resumable(values) | stored_task_override(args), keymap=keymap(args))


def keymap(args: argparse.Namespace) -> dict[str, str]:
    """The [keymap] tables of the user's config file and of --config FILE (its entries win)."""
    from reflectloop.core.settings import paths
    from reflectloop.tui.keymap import load

    files = [p for p in (paths.config_path(), getattr(args, "config", None)) if p is not None and Path(p).exists()]
    return {name: keys for path in files for name, keys in load(Path(path)).items()}


def _tui(args: argparse.Namespace) -> int:
    app = tui_app(args)
    app.run()
    return app.return_code or 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from reflectloop.sessions.lock import SessionLockedError  # after --help, which needs none of sessions

    scrubbing = args.command not in (None, "tui")  # the TUI draws on the terminal itself
    streams = _scrub_output() if scrubbing else None
    try:
        if args.command == "run":
            return asyncio.run(_run(args))
        if hasattr(args, "func"):
            return args.func(args)
        return _tui(args)
    except (ConfigError, TaskError, LLMError, ValueError, OSError, SessionLockedError) as exc:
        print(f"reflectloop: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nreflectloop: interrupted; the session keeps every step done so far", file=sys.stderr)
        return 130
    finally:
        if streams is not None:
            _restore_output(streams)


def _scrub_output() -> tuple:
    """stdout and stderr scrubbed of API keys as the session store is: a
    model that echoes a key never prints it."""
    from reflectloop.sessions.redact import ScrubbedStream, env_secrets

    streams, secrets = (sys.stdout, sys.stderr), env_secrets()
    sys.stdout, sys.stderr = ScrubbedStream(sys.stdout, secrets), ScrubbedStream(sys.stderr, secrets)
    return streams


def _restore_output(streams: tuple) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can reach it
            pass
    sys.stdout, sys.stderr = streams


if __name__ == "__main__":
    sys.exit(main())
