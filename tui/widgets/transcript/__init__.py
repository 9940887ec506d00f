"""The chat-style transcript: one widget per message of the loop."""
from reflectloop.tui.widgets.transcript.chat import NoteLine, PhaseLine, StepSummary, SystemLine, UserLine
from reflectloop.tui.widgets.transcript.errors import ErrorSet
from reflectloop.tui.widgets.transcript.evaluation import EvaluationMessage
from reflectloop.tui.widgets.transcript.transcript import Transcript

__all__ = [
    "ErrorSet", "EvaluationMessage", "NoteLine", "PhaseLine", "StepSummary", "SystemLine", "Transcript", "UserLine",
]
