"""Named run sizes a first run can start from: ``quick`` fits a laptop (a
step on the embedded model in about a minute on 2 cores), ``study`` is the
paper's unified setting.  A preset is a plain dict of settings applied over
a configuration; anything set after it (a flag, a field of the start
screen) still wins."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reflectloop.core.settings.config import ConfigError, RunConfig


@dataclass(frozen=True)
class Preset:
    name: str
    description: str  # one line, shown beside the name
    settings: dict[str, Any]


# quick: sized by measuring `reflectloop run` (APO on gen:navigate) on the
# embedded model on 2 cores; the answer caps keep a 135M model from rambling
# to its context limit, which is what made an uncapped step take minutes.
QUICK = Preset("quick", "a first look: 3 steps, beam 2, dev 8, test 8, short answers (a step in about a minute)", {
    "steps": 3, "beam": 2, "dev_size": 8, "test_size": 8, "init_prompts": 2,
    "target_max_tokens": 48, "optimizer_max_tokens": 160,
})
# study: the paper's sizes, which are RunConfig's defaults, named so that
# choosing it undoes a quick run's caps too.
STUDY = Preset("study", "the paper's sizes: 10 steps, beam 5, 10 initial prompts, dev 50, test 200", {
    "steps": 10, "beam": 5, "dev_size": 50, "test_size": 200, "init_prompts": 10,
    "target_max_tokens": None, "optimizer_max_tokens": None,
})
PRESETS: dict[str, Preset] = {p.name: p for p in (QUICK, STUDY)}


def preset(name: str) -> Preset:
    try:
        return PRESETS[name.strip().casefold()]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})") from None


def apply_preset(config: RunConfig, name: str) -> RunConfig:
    return config.replace(**preset(name).settings)


def preset_of(config: RunConfig) -> str | None:
    """The preset whose every setting ``config`` has, if any."""
    for p in PRESETS.values():
        if all(getattr(config, k) == v for k, v in p.settings.items()):
            return p.name
    return None
