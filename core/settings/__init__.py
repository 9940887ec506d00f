"""A run's settings: the config, presets, paths and the estimate of what a run costs."""
