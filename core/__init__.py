"""reflectloop's engine: models, tasks, evaluation, methods and the step loop.

Nothing in here imports Textual, Rich, TinyDB or the ``sessions``/``tui`` packages.
"""
