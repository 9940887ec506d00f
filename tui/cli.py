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
    run.add_argument("--repeats", type=int, metavar="K",
                     help="repeat the run with seeds seed..seed+K-1; report mean and spread per step")
    tui = sub.add_parser("tui", help="the interactive assistant (the default)")
    _add_settings(tui)
    tui.add_argument("--session", type=Path, help="session to open and continue")
    from tui.commands import register_all

    register_all(sub)
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


def step_fields(record: StepRecord, prompt_text: str) -> dict:
    """What ``--json`` prints for a step."""
    return {
        "step": record.step, "dev_best": record.dev_best, "test": record.test,
        "prompt": prompt_text, "tokens": record.tokens, "calls": record.calls,
    }


def method_list(value: str) -> list[str]:
    from core.config import METHOD_DEFAULTS

    names = list(METHOD_DEFAULTS) if value == "all" else [m.strip() for m in value.split(",") if m.strip()]
    unknown = [m for m in names if m not in METHOD_DEFAULTS]
    if unknown or not names:
        raise ConfigError(f"unknown method(s) {', '.join(unknown) or value!r} (known: all, {', '.join(METHOD_DEFAULTS)})")
    return names


async def _run(args: argparse.Namespace) -> int:
    if args.repeats:
        from tui.commands.repeats import main as repeat_main

        return await repeat_main(args)
    values = settings(args)
    methods = method_list(values.get("method", RunConfig().method))
    if len(methods) == 1:
        config = from_dict({**values, "method": methods[0]})
        return await _run_one(args, config, args.session, values)
    return await _compare(args, values, methods)


async def _run_one(args, config: RunConfig, session, values: dict, rows: list | None = None) -> int:
    from tui.progress import ProgressBar
    from tui.runner import start_or_resume

    bar = ProgressBar(method=config.method)
    run = start_or_resume(config, AutoReviewer(), session=session, values=values, listeners=(bar,))
    loop = run.loop
    print(f"session: {run.store.path}", file=sys.stderr)
    extra = {"method": config.method} if rows is not None else {}
    try:
        for record in loop.state.records:  # steps already done when resuming
            _report(args, record, loop, extra, rows)
        while loop.next_step < run.config.steps:
            record = await loop.run_step()
            _report(args, record, loop, extra, rows)
    except BudgetExceeded as exc:
        print(f"\nstopped: {exc}; continue with --session {run.store.path}", file=sys.stderr)
        return 3
    finally:
        await run.close()
    return 0


async def _compare(args, values: dict, methods: list[str]) -> int:
    """Several methods on the same task, seed and initial prompts; a per-step
    CSV beside their sessions."""
    import csv
    import time

    base = from_dict({**values, "method": methods[0]})
    folder = Path(args.session) if args.session else paths.sessions_dir() / (
        f"{time.strftime('%Y%m%d-%H%M%S')}-{base.task.replace(':', '-').replace('/', '_')}-compare")
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    code = 0
    for method in methods:
        config = from_dict({**values, "method": method, **_shared_initial(folder, base)})
        code = await _run_one(args, config, folder / f"{method}.session", values, rows) or code
        if code == 3:
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
    from sessions.store import SessionStore

    with SessionStore.open(folder / f"{method}.session", read_only=True) as store:
        texts = [p.instruction for p in store.prompts().values() if p.step == 0]
    (folder / "initial_prompts.json").write_text(json.dumps(texts, indent=1))


def _report(args, record: StepRecord, loop, extra: dict, rows: list | None) -> None:
    text = render_prompt(loop.state.prompts[record.best_id])
    if args.json:
        print(json.dumps({**extra, **step_fields(record, text)}), flush=True)
    else:
        print((f"{extra['method']:<13}" if extra else "") + step_line(record, text), flush=True)
    if rows is not None:
        beam = [loop.state.dev[i].score for i in record.beam]
        rows.append({
            "method": extra["method"], "step": record.step, "dev_best": record.dev_best,
            "dev_mean_beam": sum(beam) / len(beam), "test": record.test,
            "tokens": record.tokens, "calls": record.calls,
        })


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
        if hasattr(args, "func"):
            return args.func(args)
        return _tui(args)
    except (ConfigError, TaskError, LLMError, ValueError, OSError) as exc:
        print(f"reflectloop: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nreflectloop: interrupted; the session keeps every step done so far", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
