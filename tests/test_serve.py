"""``reflectloop serve`` in headless Chromium, driven over the DevTools
protocol: the token is required, the start screen is drawn in the page, and
a key typed in the browser reaches the app (ctrl+c quits it, which ends the
page's session), and a card of an annotation packet is accepted from the
browser (the decision is read back from the packet).  Screenshots are saved
in the test's tmp dir and their paths printed."""
from __future__ import annotations

import asyncio
import base64
import contextlib
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

from reflectloop.tui.subcommands.serve import app_command, check_host, public_url, token_server

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


@contextlib.contextmanager
def serving(tmp_path, *tui_args: str, host: str | None = None, port: int | None = None):
    """``reflectloop serve`` (with ``tui_args`` for the app) running; yields its URL with the token."""
    port = port or free_port()
    # The served app's sessions and config stay in the test's tmp dir.
    env = {**os.environ, "REFLECTLOOP_HOME": str(tmp_path / "home"), "REFLECTLOOP_CONFIG": str(tmp_path / "none.toml")}
    args = [sys.executable, "-m", "reflectloop", "serve", "--port", str(port), *(["--host", host] if host else []),
            *(["--", *tui_args] if tui_args else [])]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path, env=env)
    try:
        line = wait_for("the server's URL", lambda: proc.stdout.readline())
        assert "token=" in line, line
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=GUARD)


@pytest.fixture
def server(tmp_path):
    with serving(tmp_path) as url:
        yield url


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
    quit_from_the_page(browser)


def open_page(browser, url: str, shot: Path) -> None:
    """Load the served app and wait until it has drawn its first screen (saved in ``shot``)."""
    browser.call("Page.enable")
    browser.call("Page.navigate", url=url)
    wait_for("the app's first screen", lambda: "-first-byte" in (browser.js("document.body.className") or ""))

    def painted():
        data = browser.call("Page.captureScreenshot", format="png")["data"]
        shot.write_bytes(base64.b64decode(data))
        return shot.stat().st_size > 20_000

    wait_for("the screen to be drawn", painted)
    browser.js("document.querySelector('.xterm-helper-textarea').focus()")


def press(browser, key: str, code: str, vk: int, modifiers: int = 0) -> None:
    for kind in ("keyDown", "keyUp"):
        browser.call("Input.dispatchKeyEvent", type=kind, modifiers=modifiers, key=key, code=code,
                     windowsVirtualKeyCode=vk, **({"text": key} if kind == "keyDown" and not modifiers else {}))


def quit_from_the_page(browser) -> None:
    browser.js("document.querySelector('.xterm-helper-textarea').focus()")
    press(browser, "c", "KeyC", 67, modifiers=2)
    # ctrl+c is the app's quit key: the app exits and the page shows "Session ended".
    wait_for("the app to quit on ctrl+c", lambda: "-closed" in (browser.js("document.body.className") or ""))


def test_a_card_is_accepted_through_the_browser(browser, tmp_path):
    from reflectloop.core.review import AutoReviewer
    from reflectloop.sessions.decisions import decision_log
    from reflectloop.sessions.packets import assign
    from reflectloop.sessions.service import open_run
    from reflectloop.sessions.store import SessionStore
    from tests.tui_fixtures import Injector, tui_config

    async def step0(path):  # the initial prompts: cards with no feedback before them, so none is held back
        run = open_run(tui_config(), AutoReviewer(), session=path, injected=Injector())
        await run.drive(1)
        await run.close()

    asyncio.run(step0(tmp_path / "src.session"))
    (packet,) = assign(tmp_path / "src.session", ["ann"], tmp_path / "packets")

    def accepted():
        with SessionStore.open(packet, read_only=True) as store:
            return decision_log(store)

    with serving(tmp_path, "--session", str(packet)) as url:
        shot = tmp_path / "serve-packet.png"
        open_page(browser, url, shot)
        print(f"\nscreenshot of the packet screen: {shot}")

        def decided():
            press(browser, "a", "KeyA", 65)  # the focused card: the first undecided one
            return accepted()

        found = wait_for("a decision from the browser", decided)
        quit_from_the_page(browser)
    assert found and {(d.kind, d.by, d.annotator) for d in found} == {("accept", "human", "ann")}


def test_serve_refuses_a_remote_host_without_the_flag():
    with pytest.raises(ValueError, match="--allow-remote"):
        check_host("0.0.0.0", allow_remote=False)
    check_host("0.0.0.0", allow_remote=True)
    check_host("::1", allow_remote=False)
    check_host("localhost", allow_remote=False)


def test_app_command_passes_tui_options():
    command = app_command(["--", "--session", "a b.packet"])
    assert command.endswith("-m reflectloop tui --session 'a b.packet'")
    assert Path(command.split()[0]) == Path(sys.executable)


def test_an_ipv6_url_has_its_address_in_brackets():
    assert public_url("::1", 8123) == "http://[::1]:8123"
    assert public_url("127.0.0.1", 8123) == "http://127.0.0.1:8123"
    assert public_url("localhost", 80) == "http://localhost:80"
    assert token_server("true", "::1", 8123, "tok").public_url == "http://[::1]:8123"


def ipv6_loopback_port() -> int | None:
    """A free port on ::1, or None where this machine has no IPv6 loopback."""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            return s.getsockname()[1]
    except OSError:
        return None


def test_serve_on_ipv6_prints_a_url_that_answers(tmp_path):
    from urllib.parse import urlsplit

    port = ipv6_loopback_port()
    if port is None:
        pytest.skip("no IPv6 loopback on this machine")
    with serving(tmp_path, host="::1", port=port) as url:
        parts = urlsplit(url)
        assert (parts.scheme, parts.hostname, parts.port, parts.path) == ("http", "::1", port, "/")
        assert url.startswith(f"http://[::1]:{port}/?token=")
        assert status(url) == 200


@pytest.mark.parametrize("port", ["99999", "0", "-1", "65536"])
def test_serve_refuses_a_port_out_of_range_before_any_url(port, capsys):
    from reflectloop.tui.cli import main

    assert main(["serve", "--port", port]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"--port {port} is not a TCP port" in err and "1 to 65535" in err


def test_serve_refuses_a_port_in_use_before_any_url(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "REFLECTLOOP_HOME": str(tmp_path / "home"), "REFLECTLOOP_CONFIG": str(tmp_path / "none.toml")}
        done = subprocess.run([sys.executable, "-m", "reflectloop", "serve", "--port", str(port)], capture_output=True,
                              text=True, cwd=tmp_path, env=env, timeout=GUARD)
    assert done.returncode == 2, done
    assert "token=" not in done.stdout and "http" not in done.stdout
    assert "reflectloop:" in done.stderr and "Traceback" not in done.stderr
