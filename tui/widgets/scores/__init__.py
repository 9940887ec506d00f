from reflectloop.tui.widgets.scores.scores_panel import ScoresPanel

__all__ = ["ScoresPanel"]
