from reflectloop.tui.widgets.start.presets import EstimatePanel, PresetPicker
from reflectloop.tui.widgets.start.sessions import SessionList, summarize
from reflectloop.tui.widgets.start.task_picker import TaskPicker

__all__ = ["EstimatePanel", "PresetPicker", "SessionList", "TaskPicker", "summarize"]
