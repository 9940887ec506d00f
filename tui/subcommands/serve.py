"""``reflectloop serve [--host H] [--port P] [-- TUI OPTIONS]``: the same app
in a browser, through textual-serve.

Each browser connection runs ``reflectloop tui`` with the options after
``--`` (``-- --session PACKET`` opens an annotation packet).  The server
listens on 127.0.0.1 unless ``--allow-remote`` is given with another
``--host``: the app can read and write sessions, so it is not put on a
network by accident.  A random token is required in the URL; the page and
its websocket refuse requests without it, and the URL with the token is
printed once the port is bound (an IPv6 address in brackets).  A port
outside 1..65535, or one that cannot be bound, exits 2 with no URL printed.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import ipaddress
import secrets
import shlex
import signal
import sys

from reflectloop.tui.subcommands import plain

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool) -> None:
    if not is_loopback(host) and not allow_remote:
        raise ValueError(f"--host {host} is not a loopback address: anyone who can reach it could drive your "
                         "sessions; add --allow-remote to bind there anyway")


def check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise ValueError(f"--port {port} is not a TCP port: give one from 1 to 65535")


def bare_host(host: str) -> str:
    """``[::1]`` as ``::1``: the address to bind, without a URL's brackets."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def public_url(host: str, port: int) -> str:
    """The URL to print: an IPv6 address goes in brackets (``http://[::1]:8000``)."""
    try:
        ipv6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        ipv6 = False
    return f"http://[{host}]:{port}" if ipv6 else f"http://{host}:{port}"


def app_command(tui_args: list[str]) -> str:
    """The shell command textual-serve runs per connection: this Python's ``reflectloop tui``."""
    args = tui_args[1:] if tui_args[:1] == ["--"] else tui_args
    return shlex.join([sys.executable, "-m", "reflectloop", "tui", *args])


def token_server(command: str, host: str, port: int, token: str):
    """A textual-serve ``Server`` whose page needs ``?token=`` and whose
    websocket lives at a path holding the token."""
    import aiohttp_jinja2
    import jinja2
    from aiohttp import web
    from textual_serve.server import Server

    class TokenServer(Server):
        async def _make_app(self) -> web.Application:
            app = web.Application(middlewares=[self._require_token])
            aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
            app.add_routes([
                web.get("/", self.handle_index, name="index"),
                # The page's script appends ?width=&height= to this URL, so the token is in the path.
                web.get(f"/ws/{token}", self.handle_websocket, name="websocket"),
                web.get("/download/{key}", self.handle_download, name="download"),
                web.static("/static", self.statics_path, name="static"),
            ])
            app.on_shutdown.append(self.on_shutdown)
            return app

        @web.middleware
        async def _require_token(self, request: web.Request, handler):
            if request.path == "/" and not hmac.compare_digest(request.query.get("token", ""), token):
                raise web.HTTPForbidden(text="reflectloop serve: open the URL printed at start (it holds the token)\n")
            return await handler(request)

        def serve(self, debug: bool = False) -> None:
            # textual-serve's serve(), with the URL printed by run_app's hook, which runs once the port is
            # bound: a port that cannot be had fails before any URL is shown, and the URL shown answers.
            self.debug = debug
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, self.request_exit)
            web.run_app(self._make_app(), host=self.host, port=self.port, handle_signals=False, loop=loop,
                        print=lambda *_: self.announce())

        def announce(self) -> None:
            print(f"reflectloop in the browser: {self.public_url}/?token={token}", flush=True)
            print("stop with Ctrl+C", flush=True)

    return TokenServer(command, host=host, port=port, title="reflectloop", public_url=public_url(host, port))


def run(args: argparse.Namespace) -> int:
    # Both checked before anything is printed: a refused setting never shows a URL.
    host = bare_host(args.host)
    check_port(args.port)
    check_host(host, args.allow_remote)
    token = secrets.token_urlsafe(24)
    token_server(app_command(args.tui_args), host, args.port, token).serve()
    return 0


def register(sub) -> None:
    p = sub.add_parser("serve", help="the app in a browser (textual-serve) on 127.0.0.1 with a token in the URL",
                       description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port, 1 to 65535 (default: 8000)")
    p.add_argument("--allow-remote", action="store_true", help="allow a --host that is not a loopback address")
    p.add_argument("tui_args", nargs=argparse.REMAINDER, metavar="-- TUI OPTIONS",
                   help="options of reflectloop tui for each browser session, after --")
    p.set_defaults(func=run)
