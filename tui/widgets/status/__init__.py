from reflectloop.tui.widgets.status.status_bar import StatusBar

__all__ = ["StatusBar"]
