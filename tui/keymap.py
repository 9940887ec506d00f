"""The ``[keymap]`` table of a config file: keys for the TUI's commands and actions.

A key's action is named by its id in ``tui.slash_commands.KEYS`` (``scores = "f3"``,
``accept = "y"``); a slash command by its name with the slash
(``"/audit" = "f4"``): that key runs it, or opens the input line with it typed
when it needs an argument.  Several keys for one name are a comma list
(``"n,j"``).  An unknown name, a key that is not a string, or a key that two
names would share is refused (``ConfigError``: exit 2), naming the entry.
"""
from __future__ import annotations

import re
from pathlib import Path

from textual.binding import Binding

from reflectloop.core.settings.config import ConfigError, read_toml
from reflectloop.tui.slash_commands import BY_NAME, KEYS

_KEY = re.compile(r"^[a-z0-9_+\-]+$|^[^\s,]$")  # a Textual key name ("ctrl+n", "f3", "question_mark") or one character


def names() -> list[str]:
    """Every name the table takes: the keys' ids, then the commands."""
    return list(dict.fromkeys(k.id for k in KEYS)) + [f"/{name}" for name in BY_NAME]


def check(table: object, source: str = "the config file") -> dict[str, str]:
    """The table, checked: name -> comma list of keys."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [keymap] must be a table of name = \"key\"")
    known = names()
    for name, keys in table.items():
        if name not in known:
            hint = f" (the command is \"/{name}\")" if name in BY_NAME else ""
            raise ConfigError(f"{source}: [keymap] has no {name!r}{hint}; it takes {', '.join(known)}")
        parts = keys.split(",") if isinstance(keys, str) else []
        if not parts or not all(_KEY.match(p.strip()) for p in parts):
            raise ConfigError(f"{source}: [keymap] {name} = {keys!r} is not a key or a comma list of keys "
                              "(for example \"f3\", \"ctrl+n\", \"j,down\")")
    normal = {name: ",".join(_named(p) for p in keys.split(",")) for name, keys in table.items()}
    _refuse_shared(normal, source)
    return normal


def _named(key: str) -> str:
    """A key as Textual names it ("?" -> "question_mark"), so that a clash is seen however it is written."""
    return next(iter(Binding.make_bindings([Binding(key.strip(), "")]))).key


def _refuse_shared(table: dict, source: str) -> None:
    """Two names on one key where both act: the keymap's own, or a key still bound by default."""
    taken: dict[tuple[str, str], str] = {}
    for k in KEYS:
        if k.id not in table:
            taken.update({(scope, k.key): k.id for scope in _scopes(k.where)})
    for name, keys in table.items():
        scopes = {scope for k in KEYS if k.id == name for scope in _scopes(k.where)} or {"loop", "packet"}
        for key in (p.strip() for p in keys.split(",")):
            for scope in scopes:
                other = taken.get((scope, key))
                if other is not None and other != name:
                    raise ConfigError(f"{source}: [keymap] {name} = {key!r}: that key is already {other}'s")
                taken[(scope, key)] = name


def _scopes(where: str) -> tuple[str, ...]:
    """Where a key acts: the app's and the cards' on both chat screens, each screen's on it alone."""
    return ("loop", "packet") if where in ("app", "card") else (where,)


def load(path: Path) -> dict[str, str]:
    """The checked ``[keymap]`` table of a TOML file ({} when it has none)."""
    data = read_toml(path)
    return check(data["keymap"], str(path)) if "keymap" in data else {}


def actions(keymap: dict[str, str]) -> dict[str, str]:
    """The part for Textual's own keymap (binding ids)."""
    return {name: keys for name, keys in keymap.items() if not name.startswith("/")}


def commands(keymap: dict[str, str]) -> dict[str, str]:
    """The commands given keys: name without the slash -> keys."""
    return {name[1:]: keys for name, keys in keymap.items() if name.startswith("/")}
