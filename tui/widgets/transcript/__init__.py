"""The chat-style transcript: one widget per message of the loop."""
from tui.widgets.transcript.chat import NoteLine, PhaseLine, StepSummary, SystemLine, UserLine
from tui.widgets.transcript.errors import ErrorSet
from tui.widgets.transcript.evaluation import EvaluationMessage
from tui.widgets.transcript.transcript import Transcript

__all__ = [
    "ErrorSet", "EvaluationMessage", "NoteLine", "PhaseLine", "StepSummary", "SystemLine", "Transcript", "UserLine",
]
