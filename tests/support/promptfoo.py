"""The real promptfoo, as ``.ci/peers/promptfoo.sh`` installs it outside the
repository (``${REFLECTLOOP_PEERS:-~/.cache/reflectloop-peers}/promptfoo``,
with its own Node 22), run offline-ish: no telemetry, no update check, no
sharing, no cache, its configuration in a folder of the test's own.

Missing, the tests that need it skip (a failure under REFLECTLOOP_STRICT=1,
see tests/conftest.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

VERSION = "0.123.1"
INSTALL = "bash .ci/peers/promptfoo.sh"


def peer_dir() -> Path:
    root = os.environ.get("REFLECTLOOP_PEERS") or str(Path.home() / ".cache" / "reflectloop-peers")
    return Path(root) / "promptfoo"


def command() -> list[str]:
    """node + promptfoo's entry point; skips the test when they are not installed."""
    folder = peer_dir() / "node_modules"
    node, entry = folder / "node" / "bin" / "node", folder / "promptfoo" / "dist" / "src" / "entrypoint.js"
    if not (node.is_file() and entry.is_file()):
        pytest.skip(f"promptfoo is not installed in {peer_dir()} (install it with: {INSTALL})")
    version = json.loads((folder / "promptfoo" / "package.json").read_text())["version"]
    if version != VERSION:
        pytest.skip(f"promptfoo {version} is installed, the tests need {VERSION} ({INSTALL})")
    return [str(node), str(entry)]


def environment(home: Path, api_key_var: str = "OPENAI_API_KEY") -> dict[str, str]:
    """promptfoo's environment: quiet, local, its state under ``home``; a
    dummy key, since the endpoint is the fake one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "PROMPTFOO_"))}
    env.update({
        api_key_var: "dummy-key-for-the-fake-endpoint",
        "PROMPTFOO_CONFIG_DIR": str(home),
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_DISABLE_SHARING": "1",
        "PROMPTFOO_DISABLE_REMOTE_GENERATION": "1",
        "PROMPTFOO_SELF_HOSTED": "1",
        "PROMPTFOO_CACHE_ENABLED": "false",
        "PROMPTFOO_PYTHON": sys.executable,  # python assertions run with this interpreter
        "NO_COLOR": "1",
    })
    return env


def evaluate(config: Path, result: Path, home: Path, *, timeout: float = 300) -> dict:
    """``promptfoo eval -c CONFIG -o RESULT --no-cache``: its results file."""
    done = subprocess.run(
        [*command(), "eval", "-c", str(config), "-o", str(result), "--no-cache", "--no-write", "--no-table",
         "--no-progress-bar", "--max-concurrency", "2"],
        cwd=config.parent, env=environment(home), capture_output=True, text=True, timeout=timeout,
    )
    # promptfoo exits 100 when a test failed: that is a result, not an error.
    assert done.returncode in (0, 100), f"promptfoo eval failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return json.loads(result.read_text())
