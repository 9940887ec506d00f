"""The ``reflectloop`` command line.  Without a subcommand it starts the TUI."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from core import paths
from core.config import ConfigError, RunConfig, from_dict, load_toml
from core.llm.base import BudgetExceeded, LLMError
from core.prompting import render_prompt
from core.review import AutoReviewer
from core.tasks import TaskError
from core.types import StepRecord

# CLI flag -> RunConfig field, for the flags that override settings.
SETTING_FLAGS = {
    "task": str, "method": str, "steps": int, "beam": int, "dev_size": int, "test_size": int,
    "target": str, "optimizer": str, "target_base_url": str, "optimizer_base_url": str,
    "data_dir": str, "seed": int, "init_prompts": int, "initial_prompts": str, "errors": int,
    "per_parent": int, "concurrency": int, "max_cost": float, "max_tokens": int,
    "optimizer_temperature": float, "target_max_tokens": int, "optimizer_max_tokens": int,
}


def _add_settings(parser: argparse.ArgumentParser) -> None:
    defaults = RunConfig()
    for name, kind in SETTING_FLAGS.items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=kind, default=None, dest=name,
                            help=f"(default: {getattr(defaults, name)})")
    parser.add_argument("--config", type=Path, help="TOML file of settings (keys as the flags, with _)")
    parser.add_argument("--no-cache", action="store_true", help="do not reuse cached model responses")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reflectloop", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="optimize a prompt headless (the auto-reviewer accepts every proposal)")
    _add_settings(run)
    run.add_argument("--session", type=Path, help="session to write, or to continue if it exists")
    run.add_argument("--json", action="store_true", help="one JSON object per step on stdout, nothing else")
    tui = sub.add_parser("tui", help="the interactive assistant (the default)")
    _add_settings(tui)
    tui.add_argument("--session", type=Path, help="session to open and continue")
    return parser


def settings(args: argparse.Namespace) -> dict:
    """Defaults < the user's config file < --config FILE < flags."""
    values: dict = {}
    if paths.config_path().exists():
        values.update(load_toml(paths.config_path()))
    if getattr(args, "config", None):
        values.update(load_toml(args.config))
    values.update({k: getattr(args, k) for k in SETTING_FLAGS if getattr(args, k, None) is not None})
    if getattr(args, "no_cache", False):
        values["cache"] = False
    return values


def step_line(record: StepRecord, prompt_text: str) -> str:
    test = "  -  " if record.test is None else f"{record.test:.3f}"
    short = " ".join(prompt_text.split())
    short = short[:70] + "…" if len(short) > 70 else short
    return (f"step {record.step:>2}  dev best {record.dev_best:.3f}  test {test}  "
            f"tokens {record.tokens:>7}  calls {record.calls:>4}  best: {short}")


def step_json(record: StepRecord, prompt_text: str) -> str:
    return json.dumps({
        "step": record.step, "dev_best": record.dev_best, "test": record.test,
        "prompt": prompt_text, "tokens": record.tokens, "calls": record.calls,
    })


async def _run(args: argparse.Namespace) -> int:
    from tui.progress import ProgressBar
    from tui.runner import resume_run, start_run

    values = settings(args)
    config = from_dict(values)
    bar = ProgressBar(method=config.method)
    if args.session and Path(args.session).exists():
        keep = {k: v for k, v in values.items() if k in ("steps", "max_cost", "max_tokens", "concurrency")}
        run = resume_run(args.session, AutoReviewer(), listeners=(bar,), overrides=keep)
    else:
        run = start_run(config, AutoReviewer(), session=args.session, listeners=(bar,))
    loop = run.loop
    print(f"session: {run.store.path}", file=sys.stderr)
    try:
        for record in loop.state.records:  # steps already done when resuming
            _report(args, record, loop)
        while loop.next_step < run.config.steps:
            record = await loop.run_step()
            _report(args, record, loop)
    except BudgetExceeded as exc:
        print(f"\nstopped: {exc}; continue with --session {run.store.path}", file=sys.stderr)
        return 3
    finally:
        await run.close()
    return 0


def _report(args: argparse.Namespace, record: StepRecord, loop) -> None:
    text = render_prompt(loop.state.prompts[record.best_id])
    print(step_json(record, text) if args.json else step_line(record, text), flush=True)


def _tui(args: argparse.Namespace) -> int:
    from tui.app import ReflectLoopApp

    values = settings(args) if args.command else {}
    app = ReflectLoopApp(config=from_dict(values), session=getattr(args, "session", None))
    app.run()
    return app.return_code or 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return asyncio.run(_run(args))
        return _tui(args)
    except (ConfigError, TaskError, LLMError, ValueError, OSError) as exc:
        print(f"reflectloop: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nreflectloop: interrupted; the session keeps every step done so far", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
