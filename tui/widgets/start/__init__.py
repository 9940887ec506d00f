from tui.widgets.start.sessions import SessionList, summarize
from tui.widgets.start.task_picker import TaskPicker

__all__ = ["SessionList", "TaskPicker", "summarize"]
