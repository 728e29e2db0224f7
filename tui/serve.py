"""``batchdeck serve``: the app in a browser, safe to run on a login node shared with others.

textual-serve runs one app process per browser tab and has no authentication:
anyone who reaches its port gets the app, running as its owner with the owner's
SSH keys. Here every HTTP request and the websocket must carry a random token
(``?token=`` on the first page load, then an HttpOnly SameSite=Strict cookie the
server sets); anything else gets 403 before textual-serve sees it, so no app
process starts for it. The server listens on loopback unless told otherwise and
prints the ``ssh -L`` line that reaches it from a laptop.
"""

from __future__ import annotations

import asyncio
import getpass
import hmac
import importlib.util
import ipaddress
import os
import re
import secrets
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ..backends.engine.journal import default_data_dir
from ..backends.errors import BatchdeckError
from ..backends.transports.base import command_line

if TYPE_CHECKING:
    from aiohttp import web

PROG = "batchdeck"
INSTALL_HINT = "pip install 'batchdeck[serve]'"
DEFAULT_PORT = 8000
# a Host header we are willing to echo into the page's URLs
_HOST_HEADER = re.compile(r"^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


class ServeError(BatchdeckError):
    """The server cannot start (address in use, unsafe token folder, ...)."""


class ServeUsageError(BatchdeckError):
    """``batchdeck serve`` was called in a way it refuses (exit status 2)."""


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def tokens_match(given: str | None, token: str) -> bool:
    """Constant-time comparison, so the time taken tells nothing about the token."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode("utf-8"))


def token_folder() -> Path:
    """The user's runtime folder (``$XDG_RUNTIME_DIR``, ``/run/user/UID``), else batchdeck's data folder.

    platformdirs falls back to ``/tmp/runtime-UID`` when there is no runtime folder: a
    name any other user can create first, so that fallback is not used.
    """
    override = os.environ.get("BATCHDECK_RUNTIME_DIR")
    if override:
        return Path(override)
    if os.environ.get("XDG_RUNTIME_DIR") or Path(f"/run/user/{os.getuid()}").is_dir():
        from platformdirs import user_runtime_dir

        return Path(user_runtime_dir("batchdeck", appauthor=False))
    return default_data_dir() / "run"


def private_folder(folder: Path) -> Path:
    """``folder``, created 0700 if missing; refused if someone else owns it."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
    except OSError as exc:
        raise ServeError(f"cannot create the token folder {folder}: {exc.strerror or exc}") from None
    if not folder.is_dir() or folder.is_symlink():
        raise ServeError(f"the token folder {folder} is not a folder")
    if info.st_uid != os.getuid():
        raise ServeError(f"the token folder {folder} belongs to another user (uid {info.st_uid}); refusing to use it")
    if info.st_mode & 0o077:
        os.chmod(folder, 0o700)
    return folder


def write_token_file(folder: Path, port: int, url: str) -> Path:
    """The URL with its token in ``folder/serve-PORT.url``, mode 0600, written under a temporary name."""
    path = folder / f"serve-{port}.url"
    temp = folder / f".serve-{port}.url.{os.getpid()}.tmp"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(url + "\n")
        os.replace(temp, path)
    except OSError as exc:
        try:
            temp.unlink()
        except OSError:
            pass
        raise ServeError(f"cannot write the token file {path}: {exc.strerror or exc}") from None
    return path


def app_command(config: str | None) -> str:
    """The shell line textual-serve runs for each browser tab: this batchdeck, the same configuration."""
    argv = [sys.executable, "-m", "batchdeck.tui.cli"]
    if config:
        argv += ["--config", os.path.abspath(config)]
    return command_line(argv)


def listen_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host.strip("[]"), port), family=family, backlog=128)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _build_server(command: str, token: str, cookie: str) -> Any:
    """A textual-serve ``Server`` whose aiohttp application checks the token on every request."""
    from aiohttp import web
    from textual_serve.server import Server

    def forbidden() -> web.Response:
        return web.Response(
            status=403,
            text="403 Forbidden: open the URL with its token that `batchdeck serve` printed when it started.\n",
        )

    @web.middleware
    async def require_token(request: web.Request, handler: Any) -> web.StreamResponse:
        from_query = request.query.get("token")
        if not tokens_match(from_query if from_query is not None else request.cookies.get(cookie), token):
            return forbidden()
        if not _HOST_HEADER.match(request.host):
            return web.Response(status=400, text="400 Bad Request: unexpected Host header\n")
        if request.path == "/ws":
            # a page elsewhere must not drive the app even if a cookie rode along
            origin = request.headers.get("Origin")
            if origin is not None and origin not in (f"http://{request.host}", f"https://{request.host}"):
                return forbidden()
        if from_query is not None and request.method == "GET" and request.path == "/":
            # the token moves into the cookie and out of the address bar and the history
            rest = [(k, v) for k, v in request.query.items() if k != "token"]
            response = web.HTTPSeeOther("/" + ("?" + urlencode(rest) if rest else ""))
            response.set_cookie(cookie, token, httponly=True, samesite="Strict", path="/")
            return response
        result: web.StreamResponse = await handler(request)
        return result

    async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"

    class TokenServer(Server):
        def __init__(self) -> None:
            super().__init__(command, title="batchdeck")
            self.websocket_tasks: set[asyncio.Task[Any]] = set()

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.insert(0, require_token)
            app.on_response_prepare.append(security_headers)
            return app

        async def on_startup(self, app: web.Application) -> None:
            """batchdeck prints its own lines (the token URL, the ssh -L line)."""

        async def on_shutdown(self, app: web.Application) -> None:
            # each websocket handler stops its app process when cancelled
            tasks = list(self.websocket_tasks)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=10)

        async def handle_index(self, request: web.Request) -> Any:
            # The page's static and websocket URLs are built from public_url; take them from
            # the Host the browser used, so that an ssh -L tunnel on another port works too.
            # No await separates this assignment from textual-serve reading it.
            self.public_url = f"http://{request.host}"
            return await super().handle_index(request)

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            task = asyncio.current_task()
            if task is not None:
                self.websocket_tasks.add(task)
            try:
                return await super().handle_websocket(request)
            finally:
                if task is not None:
                    self.websocket_tasks.discard(task)

    return TokenServer()


async def _serve(server: Any, sock: socket.socket, announce: Any) -> None:
    from aiohttp import web

    app = await server._make_app()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)
    try:
        announce()
        await stop.wait()
    finally:
        await runner.cleanup()


def run_serve(host: str, port: int, allow_remote: bool, config: str | None) -> int:
    """Serve until interrupted. Raises ServeUsageError (exit 2) or ServeError (exit 1) as one line."""
    if importlib.util.find_spec("textual_serve") is None:
        raise ServeUsageError(f"`batchdeck serve` needs textual-serve, which is not installed: {INSTALL_HINT}")
    if not 0 <= port < 65536:
        raise ServeUsageError(f"--port must be from 0 to 65535, got {port}")
    remote = not is_loopback(host)
    if remote and not allow_remote:
        raise ServeUsageError(
            f"--host {host} is not a loopback address: others could reach the server; "
            "add --allow-remote to listen there anyway, or keep 127.0.0.1 and use ssh -L"
        )
    folder = private_folder(token_folder())
    token = secrets.token_urlsafe(32)
    sock = listen_socket(host, port)
    port = sock.getsockname()[1]
    user = getpass.getuser()
    shown_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    url_host = "127.0.0.1" if host in ("0.0.0.0", "::", "[::]") else shown_host
    url = f"http://{url_host}:{port}/?token={token}"
    try:
        token_file = write_token_file(folder, port, url)
    except ServeError:
        sock.close()
        raise
    server = _build_server(app_command(config), token, cookie=f"batchdeck_serve_{port}")
    tunnel_target = "127.0.0.1" if not remote or host in ("0.0.0.0", "::", "[::]") else shown_host

    login_host = socket.getfqdn()
    if login_host.startswith("localhost"):
        login_host = socket.gethostname()

    def announce() -> None:
        if remote:
            print(
                f"{PROG} serve: warning: listening on {shown_host}:{port}, beyond this machine; the connection is "
                f"plain HTTP, so the token and the screen cross the network unencrypted, and anyone with the token "
                f"gets the app as {user}",
                file=sys.stderr,
                flush=True,
            )
        print(f"{PROG} serve: open this URL in a browser (the token in it is the password; do not share it):")
        print(f"  {url}")
        print(f"the URL is also in {token_file} (readable only by {user}); Ctrl+C stops the server and its apps")
        print(f"from a laptop: ssh -L {port}:{tunnel_target}:{port} {user}@{login_host}   then open the URL")
        sys.stdout.flush()

    try:
        asyncio.run(_serve(server, sock, announce))
    except KeyboardInterrupt:
        pass
    finally:
        try:
            token_file.unlink()
        except OSError:
            pass
        sock.close()
    print(f"{PROG} serve: stopped", flush=True)
    return 0
