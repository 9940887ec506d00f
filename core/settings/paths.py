"""Where reflectloop keeps its files.  The one place that knows about paths.

``REFLECTLOOP_HOME`` moves everything (tests point it at a temporary folder).
"""
from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    env = os.environ.get("REFLECTLOOP_HOME")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "reflectloop"


def cache_dir() -> Path:
    env = os.environ.get("REFLECTLOOP_HOME")
    if env:
        return Path(env) / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reflectloop"


def sessions_dir() -> Path:
    return home() / "sessions"


def response_cache_path() -> Path:
    return cache_dir() / "responses.sqlite3"


def config_path() -> Path:
    env = os.environ.get("REFLECTLOOP_CONFIG")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "reflectloop" / "config.toml"
