"""A session in one row, as the session lists show it (``reflectloop sessions``, the start screen)."""
from __future__ import annotations

from typing import Any

from .store import SessionStore


def session_summary(store: SessionStore) -> dict[str, Any]:
    """Task, method, steps done, best dev and its test score, when made and changed, and warnings."""
    steps = store.steps()
    best = max(steps, key=lambda s: (s.dev_best, s.step)) if steps else None
    config = store.config
    meta = store.meta
    return {
        "name": store.path.name,
        "path": str(store.path),
        "task": _label(config.get("task")),
        "method": _label(config.get("method")),
        "steps": len(steps),
        "best_dev": best.dev_best if best else None,
        "test_of_best": best.test if best else None,
        "best_step": best.step if best else None,
        "created": meta["created"],
        "updated": meta["updated"],
        "parent": meta["parent"],
        "warnings": store.warnings,
    }


def _label(value: Any) -> str | None:
    """A config entry as a short string: a spec string as is, a dict by its name."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("name", "spec", "kind", "type"):
            if isinstance(value.get(key), str):
                return value[key]
    return str(value)
