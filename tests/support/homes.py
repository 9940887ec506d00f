"""Temporary REFLECTLOOP_HOME folders for tests."""
from __future__ import annotations

from pathlib import Path

CACHE = "cache"  # core.settings.paths.cache_dir() under REFLECTLOOP_HOME


def link_cache(home: Path, cache: Path) -> Path:
    """Point ``home``'s response-cache folder at ``cache``, shared with other
    homes: sessions and config stay per home, paid-for answers are shared."""
    cache.mkdir(parents=True, exist_ok=True)
    link = home / CACHE
    link.symlink_to(cache, target_is_directory=True)
    return home
