"""Initial prompts given instead of written: the task's own list or a JSON file."""
from __future__ import annotations

import json
from pathlib import Path

from reflectloop.core.types import Task


def load_initial_prompts(source: str, task: Task) -> list[str]:
    if source == "task":
        if not task.initial_prompts:
            raise ValueError(f"task {task.name} has no initial prompts of its own")
        return list(task.initial_prompts)
    path = Path(source)
    try:
        texts = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read initial prompts: {exc}") from None
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts) or not texts:
        raise ValueError(f"{path}: initial prompts must be a non-empty JSON list of strings")
    return texts
