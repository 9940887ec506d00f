"""``core`` must stay free of the UI and of storage: importing all of it in a
fresh interpreter loads neither Textual, Rich, TinyDB nor our other packages."""
from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("textual", "rich", "tinydb", "reflectloop.sessions", "reflectloop.tui")

SCRIPT = """
import importlib, pkgutil, sys
import reflectloop.core as core
for mod in pkgutil.walk_packages(core.__path__, "reflectloop.core."):
    importlib.import_module(mod.name)
loaded = sorted({".".join(name.split(".")[:2]) if name.startswith("reflectloop.") else name.split(".")[0]
                 for name in sys.modules})
print(" ".join(loaded))
"""


def test_core_imports_no_ui_or_storage():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
    loaded = set(out.split())
    assert "reflectloop.core" in loaded  # the walk really imported something
    assert not loaded & set(FORBIDDEN), f"core pulled in {sorted(loaded & set(FORBIDDEN))}"
