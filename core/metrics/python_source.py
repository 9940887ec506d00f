"""A Python metric's source, kept by a session and loaded again from it.

A session stores a copy of its ``module:function`` metric's source when it
is created (``core.tasks.stored``), so it scores with the code it started
with wherever the original file is now, and whatever it says now.  To load
that copy, it is written to a folder of the cache named by its digest
(``metric-sources/<digest>/<file>.py``) and the metric is built from that
file by path: never by a module name, which Python would answer from an
earlier import of the original module.

Only the file that defines the metric is kept: a metric that imports a
helper module of its own still needs that helper importable.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from reflectloop.core.settings import paths

FOLDER = "metric-sources"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def source_file(reference: str, base_dir: Path) -> Path | None:
    """The ``.py`` file that ``module:function`` (or ``file.py:function``)
    names, found as the metric found it; None when it is no source file."""
    module_name = reference.rpartition(":")[0]
    if module_name.endswith(".py"):
        path = Path(module_name).expanduser()
        return path if path.is_absolute() else base_dir / path
    # The metric imported it a moment ago: the module Python holds is the one it calls.
    origin = getattr(sys.modules.get(module_name), "__file__", None) or _find(module_name, base_dir)
    return Path(origin) if origin and origin.endswith(".py") else None


def _find(module_name: str, base_dir: Path) -> str | None:
    folder = str(base_dir.resolve())
    sys.path.insert(0, folder)
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        spec = None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return spec.origin if spec is not None else None


def capture(metric: Any) -> dict | None:
    """What a session keeps of a Python metric: its source file's path,
    name, text and digest, and the function's name.  None when the source
    cannot be read (the session then loads the metric as the task file says)."""
    function = metric.function.rpartition(":")[2]
    path = source_file(metric.function, Path(metric.base_dir or "."))
    if path is None:
        return None
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return {"path": str(path.resolve()), "name": path.name, "function": function, "text": text,
            "sha256": digest(data)}


def materialise(name: str, text: str) -> Path:
    """The stored source as a file of the cache (written once per content);
    a metric built from ``<its folder>`` and ``<its name>:function`` runs it."""
    data = text.encode("utf-8")
    folder = paths.cache_dir() / FOLDER / digest(data)[:32]
    path = folder / name
    if not (path.is_file() and path.read_bytes() == data):
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{name}.{os.getpid()}.partial"
        partial.write_bytes(data)
        os.replace(partial, path)  # another process writing the same copy at once writes the same bytes
    return path


def stored_reference(stored: dict) -> tuple[str, Path]:
    """(the metric's ``file.py:function`` reference, its base folder) for
    loading the stored copy ``stored`` (what :func:`capture` returned).

    While the original file still holds the same bytes it is the one loaded,
    in its own folder: a metric that reads a file beside it or imports a
    helper of its own keeps working.  Moved or changed, the copy is loaded."""
    original = Path(stored["path"])
    try:
        same = digest(original.read_bytes()) == stored["sha256"]
    except OSError:
        same = False
    path = original if same else materialise(stored["name"], stored["text"])
    return f"{path.name}:{stored['function']}", path.parent
