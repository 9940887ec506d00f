"""``reflectloop sessions``: the sessions on this machine, newest first."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from reflectloop.core.settings import paths


def summaries(root: Path) -> list[dict]:
    from reflectloop.sessions.service import find_sessions
    from reflectloop.sessions.store import SessionStore
    from reflectloop.sessions.summary import session_summary

    rows = []
    for path in find_sessions(root):
        try:
            with SessionStore.open(path, read_only=True) as store:
                rows.append(session_summary(store))
        except (OSError, ValueError) as exc:  # not a session of a known format, damaged meta, --strict ...
            rows.append({"path": str(path), "name": path.name, "error": str(exc), "updated": 0})
        except Exception as exc:  # one folder that cannot be read must not hide the others
            rows.append({"path": str(path), "name": path.name, "error": f"{type(exc).__name__}: {exc}", "updated": 0})
    return sorted(rows, key=lambda r: r.get("updated") or 0, reverse=True)


def _score(value) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def format_rows(rows: list[dict], root: Path) -> str:
    if not rows:
        return f"no sessions in {root}"
    lines = [f"{'updated':<16} {'task':<22} {'method':<13} {'steps':>5} {'dev':>6} {'test':>6}  session"]
    for r in rows:
        name = str(Path(r["path"]).relative_to(root)) if Path(r["path"]).is_relative_to(root) else r["path"]
        if "error" in r:
            lines.append(f"{'?':<16} {'unreadable: ' + r['error']:<49}  {name}")
            continue
        updated = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["updated"]))
        lines.append(f"{updated:<16} {str(r['task'])[:22]:<22} {str(r['method'])[:13]:<13} {r['steps']:>5} "
                     f"{_score(r['best_dev']):>6} {_score(r['test_of_best']):>6}  {name}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    root = Path(args.dir) if args.dir else paths.sessions_dir()
    print(format_rows(summaries(root), root))
    return 0


def register(sub) -> None:
    p = sub.add_parser("sessions", help="list sessions (task, method, steps, last change, best scores)")
    p.add_argument("--dir", help=f"where to look (default: {paths.sessions_dir()})")
    p.set_defaults(func=run)
