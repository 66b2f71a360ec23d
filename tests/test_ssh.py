"""`outbound-panel serve-ssh` (issue 15), over real SSH connections (asyncssh's client): a visitor gets the panel
and sends in every mode; shared-world visitors are two agents; commands, forwarding and SFTP are refused; the
limits and the idle timeout disconnect with a line; nothing is left behind; a resize reaches the app."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import stat
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncssh
import pytest

from core.paths import user_dir
from tui import ssh
from tui.cli import _parser

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.real_time  # a real server, its forker and the apps it forks

_ESCAPES = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78])")
CTRL = {"open_chat": b"\x0f", "wait_me": b"\x12", "wait_any": b"\x14", "quit": b"\x11"}  # the default keymap
Serve = Callable[..., Awaitable["Server"]]


class Server:
    def __init__(self, port: int, lines: list[str], demo_task: asyncio.Task[None], key: asyncssh.SSHKey) -> None:
        self.port, self.lines, self.task, self.key = port, lines, demo_task, key

    async def connect(self, user: str = "alice", key: asyncssh.SSHKey | None = None) -> asyncssh.SSHClientConnection:
        return await asyncssh.connect("127.0.0.1", self.port, username=user, client_keys=[key or self.key],
                                      known_hosts=None, agent_path=None)


class Terminal:
    """A visitor's terminal: what the app wrote, as text without escape sequences."""

    def __init__(self, process: asyncssh.SSHClientProcess[bytes]) -> None:
        self.process = process
        self.raw = b""
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(asyncssh.Error):  # the server went away (a test stops it)
            while data := await self.process.stdout.read(65536):
                self.raw += data

    @property
    def text(self) -> str:
        return _ESCAPES.sub(b"", self.raw).decode(errors="replace")

    async def until(self, wanted: str, seconds: float = 4.0) -> None:
        for _ in range(int(seconds / 0.02)):
            if wanted in self.text:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"not on the terminal: {wanted!r}\n{self.text[-2000:]}")

    def type(self, data: bytes) -> None:
        self.process.stdin.write(data)


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serve]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    keys = tmp_path / "authorized_keys"
    keys.write_bytes(key.export_public_key())
    tasks: list[asyncio.Task[None]] = []

    async def start(*argv: str) -> Server:
        args = _parser().parse_args(["serve-ssh", "--port", "0", "--authorized-keys", str(keys), *argv])
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        lines: list[str] = []
        task = asyncio.create_task(ssh.serve(args, ready, out=lambda line, flush=True: lines.append(line)))
        tasks.append(task)
        await asyncio.wait([ready, task], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # the server could not start: its error
        return Server(ready.result(), lines, task, key)

    yield start
    for task in tasks:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def visit(server: Server, user: str = "alice", size: tuple[int, int] = (80, 24)
                ) -> tuple[asyncssh.SSHClientConnection, Terminal]:
    connection = await server.connect(user)
    process = await connection.create_process(term_type="xterm-256color", term_size=size, encoding=None)
    return connection, Terminal(process)


async def test_a_visitor_gets_the_panel_and_sends_in_every_mode(serve: Serve) -> None:
    server = await serve()
    connection, terminal = await visit(server)
    async with connection:
        await terminal.until("Alice Johnson")
        await terminal.until("Outbound message")
        for number, (mode, said) in enumerate([("open_chat", "chat task opened for you"),
                                               ("wait_me", "the reply will be routed to you"),
                                               ("wait_any", "the reply will be routed to any agent")]):
            terminal.type(f"41555501{number:02d}".encode() + b"\t\tHello from SSH")
            await terminal.until("Hello from SSH")
            terminal.type(CTRL[mode])
            await terminal.until(f"Sent to +1 415-555-01{number:02d}")
            await terminal.until(said)
        terminal.type(CTRL["quit"])
        assert await asyncio.wait_for(terminal.process.wait_closed(), 5) is None
    assert terminal.process.exit_status == 0
    assert any(line.startswith("visitor alice@127.0.0.1 left after") for line in server.lines)


async def test_visitors_in_a_shared_world_are_the_agents_their_user_names_pick(serve: Serve) -> None:
    server = await serve("--shared-world")
    alice, alice_terminal = await visit(server, "alice")
    bob, bob_terminal = await visit(server, "bob")
    async with alice, bob:
        await alice_terminal.until("Alice Johnson (alice@example.com)")
        await bob_terminal.until("Bob Martinez (bob@example.com)")
        alice_terminal.type(b"4155550100\t\tFor anyone")
        await alice_terminal.until("For anyone")
        alice_terminal.type(CTRL["wait_any"])
        await alice_terminal.until("Sent to +1 415-555-0100")
        bob_terminal.type(b"\x1b[14~")  # f4, my outbound messages: Bob's own, not Alice's
        await bob_terminal.until("No outbound messages yet")
    eve = await server.connect("eve")
    async with eve:
        process = await eve.create_process(term_type="xterm", encoding=None)
        said = await asyncio.wait_for(process.stdout.read(), 5)
        assert said == b"No demo agent is called 'eve': connect as alice, bob, carol or dave (ssh -p PORT bob@HOST).\r\n"


async def test_commands_forwarding_and_sftp_are_refused(serve: Serve) -> None:
    server = await serve()
    async with await server.connect() as connection:
        ran = await asyncio.wait_for(connection.run("cat /etc/passwd", encoding=None), 5)
        assert ran.exit_status == 1
        assert ran.stdout == (b"This server shows the outbound-panel demo only: the command 'cat /etc/passwd' is not "
                              b"available.\r\n")
        with pytest.raises((asyncssh.ChannelOpenError, asyncssh.SFTPError, asyncssh.ProcessError)):
            await asyncio.wait_for(connection.start_sftp_client(), 5)
        with pytest.raises(asyncssh.ChannelOpenError):
            await connection.create_connection(asyncssh.SSHTCPSession, "127.0.0.1", server.port)
        with pytest.raises(asyncssh.ChannelListenError):
            await connection.forward_remote_port("127.0.0.1", 0, "127.0.0.1", server.port)
        no_pty = await connection.create_process(encoding=None)
        assert await asyncio.wait_for(no_pty.stdout.read(), 5) == b"The demo needs a terminal: connect with ssh -t.\r\n"


async def test_a_key_not_authorized_is_refused(serve: Serve) -> None:
    server = await serve()
    with pytest.raises(asyncssh.PermissionDenied):
        await server.connect(key=asyncssh.generate_private_key("ssh-ed25519"))


@pytest.mark.parametrize(("limit", "said"), [
    ("--max-sessions", b"The demo is full (1 visitors): try again in a few minutes.\r\n"),
    ("--max-per-address", b"Too many sessions from your address (1): close one and try again.\r\n"),
])
async def test_over_the_limits_a_visitor_gets_one_line_and_is_disconnected(serve: Serve, limit: str,
                                                                           said: bytes) -> None:
    server = await serve(limit, "1")
    first, terminal = await visit(server)
    async with first:
        await terminal.until("Outbound message")
        second, turned_away = await visit(server)
        async with second:
            await asyncio.wait_for(turned_away.process.wait_closed(), 5)
            assert turned_away.raw == said
            assert turned_away.process.exit_status == 1


async def test_an_idle_visitor_is_disconnected_and_their_app_and_files_are_gone(serve: Serve) -> None:
    server = await serve("--idle-timeout", "1.5s")
    connection, terminal = await visit(server)
    async with connection:
        await terminal.until("Outbound message")
        [connected] = [line for line in server.lines if " connected " in line]
        pid, home = re.fullmatch(r".*: app pid (\d+), files in (.*)", connected).groups()  # type: ignore[union-attr]
        assert Path(home, "state").is_dir()  # the app's private files
        await asyncio.wait_for(terminal.process.wait_closed(), 5)
    assert terminal.text.endswith("idle for 1.5 s: disconnected\r\n")
    with pytest.raises(ProcessLookupError):
        os.killpg(int(pid), 0)  # the app's whole process group has ended
    assert not Path(home).exists()


async def test_a_resize_reaches_the_app(serve: Serve) -> None:
    server = await serve()
    connection, terminal = await visit(server)
    async with connection:
        await terminal.until("╭─ Outbound message " + "─" * 59 + "╮")  # 80 columns
        assert re.search(rb"\x1b\[2[5-9];", terminal.raw) is None  # nothing drawn below row 24
        terminal.process.change_terminal_size(100, 30)
        for _ in range(200):  # the app draws its key bar on row 30 now, out to column 100
            if re.search(rb"\x1b\[30;\d+H", terminal.raw) and "─" * 79 + "╮" in terminal.text:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError(f"not redrawn at 100×30:\n{terminal.raw[-3000:]!r}")


def test_the_host_key_is_made_once_private_and_its_fingerprint_is_the_same_at_each_start(tmp_path: Path) -> None:
    path = user_dir("state") / "ssh_host_ed25519_key"
    first = ssh.host_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ssh.host_key(path).get_fingerprint() == first.get_fingerprint()
    path.chmod(0o644)
    with pytest.raises(ssh.ServeError, match="can be read by others: chmod 600"):
        ssh.host_key(path)


def test_without_visitors_keys_or_open_it_does_not_start(tmp_path: Path) -> None:
    args = argparse.Namespace(open=False, authorized_keys=tmp_path / "none")
    with pytest.raises(ssh.ServeError, match="give --authorized-keys FILE"):
        ssh._authorized_keys(args)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["terminated", "killed"])
async def test_a_server_stopped_or_killed_leaves_no_app_and_no_files(tmp_path: Path, stop: signal.Signals) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    (tmp_path / "keys").write_bytes(key.export_public_key())
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tui.cli", "serve-ssh", "--port", "0", "--authorized-keys", str(tmp_path / "keys"),
        stdout=asyncio.subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert server.stdout is not None
        listening = (await asyncio.wait_for(server.stdout.readline(), 10)).decode()
        port = int(re.search(r":(\d+), host key", listening).group(1))  # type: ignore[union-attr]
        connection, terminal = await visit(Server(port, [], asyncio.current_task(), key))  # type: ignore[arg-type]
        async with connection:
            await terminal.until("Outbound message")
            while b"connected" not in (line := await asyncio.wait_for(server.stdout.readline(), 5)):
                pass
            pid, home = re.fullmatch(r".*: app pid (\d+), files in (.*)", line.decode().strip()).groups()  # type: ignore[union-attr]
            server.send_signal(stop)
            await asyncio.wait_for(server.wait(), 10)
            for _ in range(100):  # the forker ends the app and removes the files once the server is gone
                if not Path(home).parent.exists():
                    break
                await asyncio.sleep(0.05)
        assert not Path(home).parent.exists()
        with pytest.raises(ProcessLookupError):
            os.killpg(int(pid), 0)
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
