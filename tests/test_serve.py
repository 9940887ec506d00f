"""``reflectloop serve`` in headless Chromium, driven over the DevTools
protocol: the token is required, the start screen is drawn in the page, and
a key typed in the browser reaches the app (ctrl+c quits it, which ends the
page's session).  A screenshot of the start screen is saved in the test's
tmp dir and its path printed."""
from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tui.commands.serve import app_command, check_host

websocket = pytest.importorskip("websocket")  # websocket-client, to speak the DevTools protocol
pytest.importorskip("textual_serve")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
GUARD = 90.0  # seconds: a hung browser or server fails the test instead of hanging it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, guard: float = GUARD):
    """Poll ``check`` until it returns something true; fail after ``guard`` seconds."""
    end = time.monotonic() + guard
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}")


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


class DevTools:
    def __init__(self, ws_url: str):
        # No Origin header: Chromium refuses DevTools connections from other origins.
        self.ws = websocket.create_connection(ws_url, timeout=GUARD, suppress_origin=True)
        self.n = 0

    def call(self, method: str, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.n:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def js(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")


@pytest.fixture
def server(tmp_path):
    port = free_port()
    # The served app's sessions and config stay in the test's tmp dir.
    env = {**os.environ, "REFLECTLOOP_HOME": str(tmp_path / "home"), "REFLECTLOOP_CONFIG": str(tmp_path / "none.toml")}
    proc = subprocess.Popen([sys.executable, "-m", "tui.cli", "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path, env=env)
    try:
        line = wait_for("the server's URL", lambda: proc.stdout.readline())
        assert "token=" in line, line
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=GUARD)


@pytest.fixture
def browser(tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    profile = tmp_path / "chromium"
    proc = subprocess.Popen([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             f"--user-data-dir={profile}", "--remote-debugging-port=0", "--window-size=1100,700",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        active = profile / "DevToolsActivePort"
        port = wait_for("chromium's DevTools port", lambda: active.is_file() and active.read_text().split("\n")[0])
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json").read())
        page = next(t for t in targets if t["type"] == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        yield tools
        tools.ws.close()
    finally:
        proc.terminate()
        proc.wait(timeout=GUARD)


def test_the_page_needs_the_token(server):
    base = server.split("?")[0]
    assert status(base) == 403
    assert status(base + "?token=wrong") == 403
    assert status(server) == 200


def test_start_screen_in_chromium_and_a_key_reaches_the_app(server, browser, tmp_path):
    browser.call("Page.enable")
    browser.call("Page.navigate", url=server)
    # The app's first screen has arrived in the terminal once the page marks its first bytes.
    wait_for("the app's first screen", lambda: "-first-byte" in (browser.js("document.body.className") or ""))
    shot = tmp_path / "serve-start.png"

    def painted():
        # The start screen is drawn when a screenshot holds more than the empty terminal's few colours.
        data = browser.call("Page.captureScreenshot", format="png")["data"]
        shot.write_bytes(base64.b64decode(data))
        return shot.stat().st_size > 20_000

    wait_for("the start screen to be drawn", painted)
    print(f"\nscreenshot of the start screen: {shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "-closed" not in browser.js("document.body.className")
    browser.js("document.querySelector('.xterm-helper-textarea').focus()")
    for kind in ("keyDown", "keyUp"):
        browser.call("Input.dispatchKeyEvent", type=kind, modifiers=2, key="c", code="KeyC",
                     windowsVirtualKeyCode=67)
    # ctrl+c is the app's quit key: the app exits and the page shows "Session ended".
    wait_for("the app to quit on ctrl+c", lambda: "-closed" in (browser.js("document.body.className") or ""))


def test_serve_refuses_a_remote_host_without_the_flag():
    with pytest.raises(ValueError, match="--allow-remote"):
        check_host("0.0.0.0", allow_remote=False)
    check_host("0.0.0.0", allow_remote=True)
    check_host("::1", allow_remote=False)
    check_host("localhost", allow_remote=False)


def test_app_command_passes_tui_options():
    command = app_command(["--", "--session", "a b.packet"])
    assert command.endswith("-m tui.cli tui --session 'a b.packet'")
    assert Path(command.split()[0]) == Path(sys.executable)
