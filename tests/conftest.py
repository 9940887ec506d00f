"""Shared fixtures and the suite's rules.

* Every test runs with REFLECTLOOP_HOME in a temporary folder, so no test
  reads or writes the user's sessions, cache or config.
* A module marked ``pytestmark = pytest.mark.shared_model_cache`` shares one
  response cache among its tests (each still gets its own home): a real-model
  answer one test paid for is free for the next.
* Under ``REFLECTLOOP_STRICT=1`` (set by ``.ci/run``) a skipped test or module
  is a failure: in CI a missing tool or package must not pass unseen.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.cli import fake_flags
from tests.support.fake_server import FakeServer
from tests.support.homes import link_cache

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
STRICT = os.environ.get("REFLECTLOOP_STRICT", "") not in ("", "0")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "shared_model_cache: the module's tests share one response cache (real-model tests)"
    )


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory) -> Path:
    """The response-cache folder shared by the tests of one module."""
    return tmp_path_factory.mktemp("module-cache")


@pytest.fixture(autouse=True)
def isolated_home(request, tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    if request.node.get_closest_marker("shared_model_cache"):
        link_cache(home, request.getfixturevalue("module_cache"))
    monkeypatch.setenv("REFLECTLOOP_HOME", str(home))
    monkeypatch.setenv("REFLECTLOOP_CONFIG", str(home / "no-config.toml"))
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    return home


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="module")
def fake_endpoint():
    """One scripted OpenAI-compatible endpoint on loopback for a module's tests."""
    with FakeServer() as endpoint:
        yield endpoint


@pytest.fixture
def fake(fake_endpoint) -> list[str]:
    """The CLI flags that point the target and the optimizer at ``fake_endpoint``."""
    return fake_flags(fake_endpoint.openai_url)


# --------------------------------------------------------------- strict mode
def _strict_failure(report, what: str) -> None:
    """Turn a skip into a failure that says what was skipped and why."""
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"{what} skipped under REFLECTLOOP_STRICT=1 (CI must run everything): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    # An expected failure (xfail) is reported as skipped too; it is no missing dependency.
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        _strict_failure(report, "test")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped:  # a module-level importorskip or skip(allow_module_level=True)
        _strict_failure(report, "module")
