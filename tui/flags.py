"""The settings flags of ``run`` and ``tui``, generated from the settings
model, and where a run's settings come from.

Every setting (``core.settings.config.SETTINGS``: each ``RunConfig`` field, then each
method's own settings, ``gepa_iterations`` of GEPA's ``iterations``) is a
flag (``dev_size`` -> ``--dev-size``) with the one-line help of the field's
``metadata["help"]`` and its default; a bool is a ``--x/--no-x`` pair.  Flags that are not given stay ``None``, so only what
the person typed overrides the config files.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from reflectloop.core.settings import paths
from reflectloop.core.settings.config import SETTINGS, ConfigError, Setting, load_toml

_TYPES = {"int": int, "float": float, "str": str}
_METAVARS = {"int": "N", "float": "NUMBER", "str": "TEXT"}


def flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def _base_type(setting: Setting) -> str:
    return setting.type.replace(" | None", "").strip()


def _help(setting: Setting, default) -> str:
    text = setting.help
    shown = "not set" if default is None else ("on" if default is True else "off" if default is False else default)
    # argparse formats help with %: a literal percent sign must be doubled.
    return f"{text} (default: {shown})".strip().replace("%", "%%")


def add_settings(parser: argparse.ArgumentParser) -> None:
    """One flag per setting, plus ``--config FILE``."""
    group = parser.add_argument_group("settings", "each also a key of a TOML config file (with _ for -)")
    for setting in SETTINGS:
        kind = _base_type(setting)
        common: dict[str, Any] = dict(dest=setting.name, default=None, help=_help(setting, setting.default))
        if kind == "bool":
            group.add_argument(flag_name(setting.name), action=argparse.BooleanOptionalAction, **common)
        else:
            group.add_argument(flag_name(setting.name), type=_TYPES[kind], metavar=_METAVARS[kind], **common)
    group.add_argument("--config", type=Path, metavar="FILE",
                        help="a TOML file of settings: keys as the flags with _, at the top level or in a [run] table")
    from reflectloop.core.settings.presets import PRESETS

    group.add_argument("--preset", choices=list(PRESETS), metavar="NAME",
                       help="start from a preset's settings (over the config files; single flags still win): "
                            + "; ".join(f"{p.name}: {p.description}" for p in PRESETS.values()))


def add_stored_task_flag(parser: argparse.ArgumentParser) -> None:
    """``--use-stored-task``: not a setting (a session never stores it), a choice for one resume."""
    parser.add_argument(
        "--use-stored-task", action="store_true",
        help="continuing a --session whose task file, data file or Python metric changed since it started: "
             "go on with the copy of the task the session stored (without it such a resume is refused, exit 2). "
             "A session always holds its task as it started (templates, output contract, metric settings and "
             "source, the examples) and is always scored with that copy; a file that is gone is only noted")


def stored_task_override(args: argparse.Namespace) -> dict:
    """The ``open_run`` override of ``--use-stored-task`` (none when not given)."""
    from reflectloop.sessions.stored_task import USE_STORED

    return {USE_STORED: True} if getattr(args, "use_stored_task", False) else {}


def settings(args: argparse.Namespace) -> dict:
    """Defaults < the user's config file < --config FILE < --preset < flags."""
    values: dict = {}
    if paths.config_path().exists():
        values.update(load_toml(paths.config_path()))
    if getattr(args, "config", None):
        values.update(load_toml(args.config))
    if getattr(args, "preset", None):  # chosen on the command line: over the files, under single flags
        from reflectloop.core.settings.presets import preset

        values.update(preset(args.preset).settings)
    for setting in SETTINGS:
        given = getattr(args, setting.name, None)
        if given is not None:
            values[setting.name] = given
    return values


def method_list(value: str) -> list[str]:
    """``all``, one method, or a comma list of methods."""
    from reflectloop.core.methods import METHODS

    names = list(METHODS) if value == "all" else [m.strip() for m in value.split(",") if m.strip()]
    unknown = [m for m in names if m not in METHODS]
    if unknown or not names:
        raise ConfigError(f"unknown method(s) {', '.join(unknown) or value!r} (known: all, {', '.join(METHODS)})")
    return names
