"""Shared fixtures.  Every test runs with REFLECTLOOP_HOME in a temporary
folder, so no test reads or writes the user's sessions, cache or config."""
from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("REFLECTLOOP_HOME", str(home))
    monkeypatch.setenv("REFLECTLOOP_CONFIG", str(home / "no-config.toml"))
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    return home


@pytest.fixture
def data_dir() -> Path:
    return DATA
