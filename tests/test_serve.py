"""``batchdeck serve``: the token on every request, and the app in a real headless Chromium.

The server runs as a user runs it, in its own process (its own session, so the test can
end it and every process under it), on a port the kernel picks. "An app process" is a
descendant running ``python -m batchdeck.tui.cli``: what textual-serve starts per tab.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import required_components

if importlib.util.find_spec("textual_serve") is None:
    # textual-serve is in the test extra; CI requiring the browser must not pass by skipping
    if "browser" in required_components():
        pytest.fail("browser is required (BATCHDECK_REQUIRE) but textual-serve is not installed", pytrace=False)
    pytest.skip("textual-serve is not installed (pip install -e '.[test]')", allow_module_level=True)

import aiohttp  # noqa: E402 - textual-serve's dependency, present when it is

BATCHDECK = [sys.executable, "-m", "batchdeck.tui.cli"]
ARTIFACTS = Path(os.environ.get("BATCHDECK_ARTIFACTS") or Path(__file__).parent / "artifacts")


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something true; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_line = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat_line.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    tree = _children()
    found, todo = [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def argv_of(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def app_processes(server_pid: int) -> list[int]:
    """The batchdeck app processes under the server (not the `sh -c` textual-serve starts them with)."""
    apps = []
    for pid in descendants(server_pid):
        argv = argv_of(pid)
        if "batchdeck.tui.cli" in argv and "serve" not in argv:
            apps.append(pid)
    return apps


@dataclass
class Served:
    proc: subprocess.Popen[str]
    url: str
    base: str
    port: int
    token: str
    config: Path
    runtime: Path
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)


def _reader(stream: Any, into: list[str]) -> None:
    for line in stream:
        into.append(line)


def start_server(tmp_path: Path, *args: str) -> Served:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "batchdeck.toml"
    config.write_text(f'[clusters.localhost]\ntype = "local"\nsandbox_root = "{tmp_path / "sandboxes"}"\n')
    runtime = tmp_path / "run"
    env = {**os.environ, "BATCHDECK_RUNTIME_DIR": str(runtime), "BATCHDECK_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen(
        [*BATCHDECK, "--config", str(config), "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    served = Served(proc=proc, url="", base="", port=0, token="", config=config, runtime=runtime)
    for stream, into in ((proc.stdout, served.out), (proc.stderr, served.err)):
        threading.Thread(target=_reader, args=(stream, into), daemon=True).start()

    def url_printed() -> str | None:
        if proc.poll() is not None:
            raise AssertionError(f"batchdeck serve exited {proc.returncode}: {''.join(served.err)}")
        for line in served.out:
            match = re.search(r"(http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]+))", line)
            if match:
                served.url, served.port, served.token = match.group(1), int(match.group(2)), match.group(3)
                served.base = f"http://127.0.0.1:{served.port}"
                return served.url
        return None

    wait_for(url_printed, 30, "batchdeck serve to print its URL")
    return served


def stop_server(served: Served) -> None:
    """SIGTERM the server; then make sure nothing it started is left (SIGKILL its session)."""
    if served.proc.poll() is None:
        served.proc.send_signal(signal.SIGTERM)
        try:
            served.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(served.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    served.proc.wait(timeout=10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = start_server(tmp_path)
    try:
        yield server
    finally:
        stop_server(server)


def session_members(sid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[4]) == sid:
                members.append(int(entry.name))
    return members


# ------------------------------------------------------------------ HTTP, no browser


async def test_no_token_or_a_wrong_one_gets_403_and_starts_no_app(served: Served) -> None:
    ws_headers = {"Origin": served.base}
    async with aiohttp.ClientSession() as client:
        for path in ("/", "/?token=", "/?token=wrong", f"/?token={served.token[:-1]}", "/static/js/textual.js", "/download/x"):
            async with client.get(served.base + path, allow_redirects=False) as response:
                assert response.status == 403, path
                assert "403 Forbidden" in await response.text()
        for cookie in ("", "wrong", served.token + "x"):
            async with client.get(served.base + "/", cookies={f"batchdeck_serve_{served.port}": cookie}) as response:
                assert response.status == 403
        # the websocket: without the token, with a wrong one
        for url in (f"{served.base}/ws?width=80&height=24", f"{served.base}/ws?token=wrong"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await client.ws_connect(url, headers=ws_headers)
            assert refused.value.status == 403
    # with the right token, but from another site's page: refused as well
    async with aiohttp.ClientSession(cookies={f"batchdeck_serve_{served.port}": served.token}) as client:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(f"{served.base}/ws", headers={"Origin": "http://evil.example"})
        assert refused.value.status == 403
    assert app_processes(served.proc.pid) == []


async def test_the_token_becomes_a_cookie_and_opens_the_websocket(served: Served) -> None:
    # unsafe=True: aiohttp's jar keeps no cookie for an IP address otherwise (browsers do)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        async with client.get(served.url, allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/"  # the token leaves the address bar
            cookie = response.cookies[f"batchdeck_serve_{served.port}"]
            assert cookie.value == served.token
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
            assert response.headers["Cache-Control"] == "no-store"
        async with client.get(served.base + "/") as response:
            assert response.status == 200
            page = await response.text()
            assert "textual.js" in page
        assert app_processes(served.proc.pid) == []
        # the page's websocket (the cookie rides along) starts one app process
        ws = await client.ws_connect(f"{served.base}/ws?width=100&height=30", headers={"Origin": served.base})
        apps = wait_for(lambda: app_processes(served.proc.pid), 30, "the app process of the websocket")
        assert len(apps) == 1
        argv = argv_of(apps[0])
        assert argv[argv.index("--config") + 1] == str(served.config)  # the same configuration
        assert os.stat(f"/proc/{apps[0]}").st_uid == os.getuid()  # as the serving user
        await ws.send_str(json.dumps(["ping", "1"]))
        await ws.close()
    wait_for(lambda: not app_processes(served.proc.pid), 30, "the app to end with its websocket")


def test_token_file_is_private_and_goes_with_the_server(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        token_file = server.runtime / f"serve-{server.port}.url"
        assert stat.S_IMODE(server.runtime.stat().st_mode) == 0o700
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert token_file.read_text() == server.url + "\n"
        assert len(server.token) >= 43  # secrets.token_urlsafe(32)
        text = "".join(server.out)
        assert text.count(server.token) == 1  # printed once
        assert f"ssh -L {server.port}:127.0.0.1:{server.port} " in text
    finally:
        stop_server(server)
    assert server.proc.returncode == 0
    assert not token_file.exists()
    assert "batchdeck serve: stopped" in "".join(server.out)


def test_a_second_server_gets_another_token(tmp_path: Path) -> None:
    first = start_server(tmp_path / "a")
    second = start_server(tmp_path / "b")
    try:
        assert first.token != second.token
    finally:
        stop_server(first)
        stop_server(second)


def test_a_non_loopback_host_needs_allow_remote(tmp_path: Path) -> None:
    proc = subprocess.run([*BATCHDECK, "serve", "--host", "0.0.0.0", "--port", "0"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "--allow-remote" in lines[0] and "loopback" in lines[0]
    server = start_server(tmp_path, "--host", "0.0.0.0", "--allow-remote")
    try:
        warning = wait_for(lambda: "".join(server.err), 30, "the warning")
        assert "warning" in warning and "unencrypted" in warning
    finally:
        stop_server(server)


def test_port_in_use_is_one_line(served: Served, tmp_path: Path) -> None:
    proc = subprocess.run(
        [*BATCHDECK, "serve", "--port", str(served.port)],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "BATCHDECK_RUNTIME_DIR": str(tmp_path / "run2")},
    )
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and f"cannot listen on 127.0.0.1:{served.port}" in lines[0]


def test_without_textual_serve_it_says_how_to_install_it() -> None:
    # sys.modules[name] = None is how Python itself marks a module as not importable
    code = "import sys; sys.modules['textual_serve'] = None; from batchdeck.tui.cli import main; sys.exit(main(['serve']))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "pip install 'batchdeck[serve]'" in lines[0]


# ------------------------------------------------------------------ a real browser

# xterm.js draws on a canvas; its screen-reader mode mirrors every row as DOM text. The
# script records the page's xterm Terminal as textual.js creates it (the first assignment of
# its `_addonManager`), so the test can switch that mode on and read the rows.
RECORD_TERMINAL = """
Object.defineProperty(Object.prototype, '_addonManager', {configurable: true, set(value) {
  Object.defineProperty(this, '_addonManager', {value: value, writable: true, configurable: true, enumerable: true});
  (window.__batchdeckTerminals = window.__batchdeckTerminals || []).push(this);
}});
"""


def screen_text(driver: Any) -> str:
    text = driver.execute_script(
        "const terms = window.__batchdeckTerminals || [];"
        # xterm's DOM renderer, should a later textual-serve use it, has the rows as text already
        "const rows = document.querySelector('.xterm-rows');"
        "if (!terms.length) return rows ? rows.innerText : '';"
        "terms[0].options.screenReaderMode = true;"
        "const tree = document.querySelector('.xterm-accessibility-tree');"
        "return tree ? tree.innerText : '';"
    )
    return str(text or "")


def open_app(driver: Any, url: str) -> None:
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_TERMINAL})
    driver.set_page_load_timeout(60)
    driver.get(url)


@pytest.mark.browser
def test_the_browser_shows_the_app_and_a_key_reaches_it(served: Served, browser: Any) -> None:
    open_app(browser, served.url)
    assert browser.current_url == served.base + "/"  # the token left the address bar
    text = wait_for(lambda: (t := screen_text(browser)) and "Clusters" in t and "Jobs" in t and t, 60,
                    "the app's main screen in the page")
    assert "localhost" in text
    apps = app_processes(served.proc.pid)
    assert len(apps) == 1
    # the screenshot shows the canvas as drawn, without the screen-reader rows
    browser.execute_script("window.__batchdeckTerminals[0].options.screenReaderMode = false;")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "serve-main.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000

    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea").send_keys("?")
    wait_for(lambda: "batchdeck keys" in screen_text(browser), 60, "the help screen after typing ?")
    browser.execute_script("window.__batchdeckTerminals[0].options.screenReaderMode = false;")
    assert browser.save_screenshot(str(ARTIFACTS / "serve-help.png"))
    # a second tab is a second app, on the same configuration
    browser.switch_to.new_window("tab")
    open_app(browser, served.url)
    wait_for(lambda: "Clusters" in screen_text(browser), 60, "the app in the second tab")
    assert len(app_processes(served.proc.pid)) == 2


@pytest.mark.browser
def test_the_browser_without_the_token_gets_403_and_no_app(served: Served, browser: Any) -> None:
    for url in (served.base + "/", f"{served.base}/?token=wrong{served.token[:8]}"):
        browser.get(url)
        assert "403 Forbidden" in browser.find_element("tag name", "body").text
    assert app_processes(served.proc.pid) == []
    assert browser.get_cookies() == []


@pytest.mark.browser
def test_stopping_the_server_ends_every_app(tmp_path: Path, browser: Any) -> None:
    server = start_server(tmp_path)
    try:
        open_app(browser, server.url)
        wait_for(lambda: app_processes(server.proc.pid), 60, "the app process of the tab")
        session = os.getsid(server.proc.pid)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=30) == 0
        # nothing the server started outlives it (the server leads its own session here)
        wait_for(lambda: not session_members(session), 30, "every process of the server to end")
    finally:
        stop_server(server)
