"""One installed name: ``reflectloop.core``, ``reflectloop.sessions`` and
``reflectloop.tui``, while the three folders stay at the top of the checkout
(``reflectloop/`` holds a link to each).  Nothing of this project answers to
``import core`` outside the checkout."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True)


def test_the_package_links_to_the_three_folders():
    for part in ("core", "sessions", "tui"):
        link = ROOT / "reflectloop" / part
        assert link.is_symlink() and link.resolve() == (ROOT / part).resolve(), part


def test_outside_the_checkout_only_reflectloop_is_importable(tmp_path):
    done = run("import reflectloop.core.step.loop, reflectloop.sessions.service, reflectloop.tui.cli; "
               "print(reflectloop.core.step.loop.__file__)", tmp_path)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).resolve() == (ROOT / "core" / "step" / "loop.py").resolve()
    for name in ("core", "sessions", "tui"):
        done = run(f"import {name}", tmp_path)
        assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr, name


def test_python_m_reflectloop_is_the_command_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "reflectloop", "--help"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert "usage: reflectloop" in done.stdout and "run" in done.stdout


def test_every_module_is_imported_by_its_one_name():
    """No file of the project imports a module by a bare top-level name, which
    would load a second copy of it beside the ``reflectloop.*`` one."""
    bare = []
    for top in ("core", "sessions", "tui", "tests", "bench"):
        for path in (ROOT / top).rglob("*.py"):
            for k, line in enumerate(path.read_text().splitlines(), 1):
                stripped = line.strip()
                if stripped.startswith(("from core", "import core", "from sessions", "import sessions",
                                        "from tui", "import tui")):
                    bare.append(f"{path.relative_to(ROOT)}:{k}: {stripped}")
    assert bare == []
