"""Loading a Python metric's function (``module:function`` or
``file.py:function``), here and in the worker processes that run it
(``core.metrics.pool``); a task file's folder is searched first."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Callable

from reflectloop.core.metrics.base import MetricError


def load_function(reference: str, base_dir: Path) -> Callable:
    module_name, colon, name = reference.rpartition(":")
    if not colon or not module_name or not name:
        raise MetricError(f"python metric {reference!r} must look like module:function or file.py:function")
    module = _load_module(module_name, base_dir)
    function = getattr(module, name, None)
    if function is None:
        public = sorted(n for n in vars(module) if not n.startswith("_") and callable(getattr(module, n)))
        raise MetricError(
            f"metric module {module_name!r} has no function {name!r} (it has: {', '.join(public) or 'none'})"
        )
    if not callable(function):
        raise MetricError(f"metric {reference!r} is not a function (it is a {type(function).__name__})")
    return function


def _load_module(name: str, base_dir: Path):
    try:
        if name.endswith(".py"):
            return _from_file(name, base_dir)
        with _on_path(base_dir):
            return importlib.import_module(name)
    except MetricError:
        raise
    except (Exception, SystemExit) as exc:  # a module that calls sys.exit() fails to load too
        raise MetricError(f"metric module {name!r} cannot be imported: {type(exc).__name__}: {exc}") from None


def _from_file(name: str, base_dir: Path):
    path = Path(name).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise MetricError(f"metric module {name!r} not found ({path})")
    spec = importlib.util.spec_from_file_location(f"reflectloop_metric_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise MetricError(f"metric module {name!r} cannot be imported: {path} is not a Python source file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _on_path:
    """The task file's folder first on ``sys.path`` during the import, so a
    ``metric.py`` beside the task file is found without installing it."""

    def __init__(self, folder: Path) -> None:
        self.folder = str(folder.resolve())

    def __enter__(self) -> None:
        sys.path.insert(0, self.folder)

    def __exit__(self, *exc) -> None:
        if self.folder in sys.path:
            sys.path.remove(self.folder)
