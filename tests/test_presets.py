"""Presets: named settings applied over a configuration."""
from __future__ import annotations

import pytest

from reflectloop.core.settings.config import ConfigError, RunConfig
from reflectloop.core.settings.presets import PRESETS, apply_preset, preset, preset_of


def test_quick_sets_small_sizes_and_answer_caps_and_keeps_the_rest():
    config = apply_preset(RunConfig(task="gen:object_counting", method="opro", seed=7), "quick")
    assert (config.steps, config.beam, config.dev_size, config.test_size, config.init_prompts) == (3, 2, 8, 8, 2)
    assert (config.target_max_tokens, config.optimizer_max_tokens) == (48, 160)
    assert (config.task, config.method, config.seed) == ("gen:object_counting", "opro", 7)


def test_study_is_the_papers_sizes_and_undoes_quick():
    config = apply_preset(apply_preset(RunConfig(), "quick"), "study")
    assert config == RunConfig()
    assert (config.steps, config.beam, config.dev_size, config.test_size, config.init_prompts) == (10, 5, 50, 200, 10)


def test_preset_of_names_the_matching_preset_only():
    assert preset_of(RunConfig()) == "study"
    assert preset_of(apply_preset(RunConfig(), "quick")) == "quick"
    assert preset_of(RunConfig(beam=3)) is None


def test_every_preset_is_valid_settings_with_a_one_line_description():
    for p in PRESETS.values():
        apply_preset(RunConfig(), p.name)  # from_dict refuses an unknown or ill-typed setting
        assert p.description and "\n" not in p.description


def test_an_unknown_preset_is_refused_by_name():
    with pytest.raises(ConfigError, match=r"unknown preset 'fast' \(known: quick, study\)"):
        preset("fast")
    assert preset(" Quick ").name == "quick"
