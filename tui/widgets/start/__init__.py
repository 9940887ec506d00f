from tui.widgets.start.sessions import SessionList, find_sessions, summarize
from tui.widgets.start.task_picker import TaskPicker

__all__ = ["SessionList", "TaskPicker", "find_sessions", "summarize"]
