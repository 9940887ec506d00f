"""Which task collections a ``--data-dir`` holds.

Accepted: the study's folder itself (``ini/ induce/ execute/``), a BBH folder
(``*.json`` files with ``examples`` lists), or a parent holding ``paper/``
and/or ``bbh/``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from reflectloop.core.tasks import bbh, paper


@dataclass(frozen=True)
class Layout:
    paper: Path | None
    bbh: Path | None


def detect(data_dir: str | Path | None) -> Layout:
    if data_dir is None:
        return Layout(None, None)
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        return Layout(None, None)
    return Layout(
        paper=_first(root, "paper", paper.is_paper_root),
        bbh=_first(root, "bbh", bbh.is_bbh_root),
    )


def _first(root: Path, sub: str, matches: Callable[[Path], bool]) -> Path | None:
    """The folder itself, else its conventional sub-folder."""
    for candidate in (root, root / sub):
        if candidate.is_dir() and matches(candidate):
            return candidate
    return None
