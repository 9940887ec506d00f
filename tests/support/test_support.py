"""The suite's own rules (tests/conftest.py) and the support helpers."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import read_line

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]

SKIPPING = """
import pytest

def test_skipped():
    pytest.skip("tmux is not installed")

@pytest.mark.xfail(reason="a known failure", strict=True)
def test_expected_to_fail():
    assert False

def test_runs():
    assert True
"""
SKIPPED_MODULE = """
import pytest
pytest.importorskip("no_such_package_here", reason="the package is not installed")

def test_never_collected():
    pass
"""
SHARING = """
import pytest
from reflectloop.core.settings.paths import cache_dir
{mark}

def test_first():
    cache_dir().mkdir(parents=True, exist_ok=True)
    (cache_dir() / "answer").write_text("paid for")

def test_second():
    assert (cache_dir() / "answer").exists()
"""


def run_inner(pytester, monkeypatch, strict: bool, **files: str):
    """pytest in a child process with this suite's conftest as a plugin."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("REFLECTLOOP_STRICT", "1" if strict else "0")
    pytester.makepyfile(**files)
    return pytester.runpytest_subprocess(
        "-p", "tests.conftest", "-p", "no:cacheprovider", "-q", "--continue-on-collection-errors"
    )


def test_under_strict_mode_every_skip_fails_and_says_why(pytester, monkeypatch):
    result = run_inner(pytester, monkeypatch, True, test_skipping=SKIPPING, test_module=SKIPPED_MODULE)
    result.assert_outcomes(passed=1, failed=1, xfailed=1, errors=1)
    result.stdout.fnmatch_lines(["*test skipped under REFLECTLOOP_STRICT=1*tmux is not installed*"])
    result.stdout.fnmatch_lines(["*module skipped under REFLECTLOOP_STRICT=1*the package is not installed*"])
    assert result.ret != 0


def test_without_strict_mode_a_skip_is_a_skip(pytester, monkeypatch):
    result = run_inner(pytester, monkeypatch, False, test_skipping=SKIPPING, test_module=SKIPPED_MODULE)
    result.assert_outcomes(passed=1, skipped=2, xfailed=1)
    assert result.ret == 0


def test_a_marked_module_shares_one_response_cache_and_others_do_not(pytester, monkeypatch):
    marked = SHARING.format(mark="pytestmark = pytest.mark.shared_model_cache")
    run_inner(pytester, monkeypatch, True, test_marked=marked).assert_outcomes(passed=2)
    for path in pytester.path.glob("test_marked.py"):
        path.unlink()
    plain = run_inner(pytester, monkeypatch, True, test_plain=SHARING.format(mark=""))
    plain.assert_outcomes(passed=1, failed=1)  # each test had a cache of its own


def test_every_test_is_bounded_by_a_timeout(pytestconfig):
    assert pytestconfig.pluginmanager.hasplugin("timeout")
    assert float(pytestconfig.getini("timeout")) > 0


def child(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)


def test_read_line_reads_one_line_and_leaves_the_next():
    process = child("print('first', flush=True); print('second', flush=True)")
    try:
        assert read_line(process) == "first"
        assert read_line(process) == "second"
    finally:
        process.wait()


def test_read_line_gives_up_on_a_silent_child():
    process = child("import time; time.sleep(60)")
    try:
        with pytest.raises(TimeoutError, match="no line from pid"):
            read_line(process, timeout=0.2)
    finally:
        process.kill()
        process.wait()


def test_read_line_says_when_the_child_exits_first():
    process = child("import sys; sys.stdout.write('half'); sys.exit(3)")
    with pytest.raises(RuntimeError, match="closed its output.*'half'"):
        read_line(process)
    process.wait()
