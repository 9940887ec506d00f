"""Tasks: the study's data, BIG-Bench Hard, generic JSONL/CSV and procedural
generators, all loaded by spec string through ``load_task``."""
from reflectloop.core.tasks.base import TaskError
from reflectloop.core.tasks.registry import list_tasks, load_task

__all__ = ["TaskError", "list_tasks", "load_task"]
