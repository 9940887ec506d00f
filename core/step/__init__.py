"""The step of the loop: its state machine, selection, evaluation policies and review points."""
