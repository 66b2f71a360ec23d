"""`outbound-panel serve-ssh`: the demo for visitors over SSH (asyncssh, the `ssh` extra).

Each visitor gets the panel in a pseudo-terminal of their size and TERM, and nothing else: no shell, no command,
no forwarding, no SFTP. Each app is its own process, forked from a pre-imported one (tui/forker.py), in its own
session: it ends, with everything it started and its private files, when the visitor leaves or idles out.
By default each visitor has a fresh simulated world as the seeded demo agent; with --shared-world they share one
simulator and the SSH user name picks the seeded agent (`ssh -p 2222 bob@host` is Bob).

    ssh_main(args)     # from tui.cli: the server, until interrupted
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import signal
import struct
import sys
import tempfile
import termios
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.paths import user_dir
from tui.arguments import count, duration, port

if TYPE_CHECKING:
    import asyncssh

    from tui.forker import Forker

log = logging.getLogger("outbound_panel.ssh")
LOOPBACK = ("127.0.0.1", "::1", "localhost")
GONE_AFTER = 2.0  # seconds an app has to end on SIGHUP before it is killed


def add_command(commands: Any) -> None:
    serve = commands.add_parser(
        "serve-ssh", help="serve the demo to visitors over SSH (each gets the panel on a simulated world)",
        description="Serve the demo over SSH: each visitor gets the panel, and nothing else, on a simulated "
        "Twilio (real credentials are never used). Needs the ssh extra: pip install 'outbound-panel[ssh]'.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; another "
                       "address lets other machines in)")
    serve.add_argument("--port", type=port, default=2222, help="port (default 2222)")
    who = serve.add_mutually_exclusive_group()
    who.add_argument("--authorized-keys", metavar="FILE", type=Path,
                     help="visitors' public keys, one per line (default ~/.ssh/authorized_keys)")
    who.add_argument("--open", action="store_true", help="no authentication: anyone who can reach the port")
    serve.add_argument("--shared-world", action="store_true", help="one simulator for every visitor; the SSH "
                       "user name picks the seeded agent (alice, bob, carol, dave)")
    serve.add_argument("--max-sessions", type=count, default=20, metavar="N", help="visitors at once (default 20)")
    serve.add_argument("--max-per-address", type=count, default=5, metavar="N",
                       help="visitors at once from one address (default 5)")
    serve.add_argument("--idle-timeout", type=duration, default=15 * 60.0, metavar="DURATION",
                       help="disconnect a visitor who typed nothing for this long: 90s, 15m, 1h (default 15m)")


class ServeError(Exception):
    """The server cannot start; str() says why (exit 2)."""


@dataclass
class Visitors:
    """Who is connected, to keep within the limits."""

    max_sessions: int
    max_per_address: int
    by_address: Counter[str] = field(default_factory=Counter)

    def refusal(self, address: str) -> str | None:
        if sum(self.by_address.values()) >= self.max_sessions:
            return f"The demo is full ({self.max_sessions} visitors): try again in a few minutes."
        if self.by_address[address] >= self.max_per_address:
            return f"Too many sessions from your address ({self.max_per_address}): close one and try again."
        return None


class DemoServer:
    """The listening server: host key, authentication, limits, and one app per visitor."""

    def __init__(self, args: argparse.Namespace, forker: Forker, world_url: str | None, root: str,
                 out: Any = print) -> None:
        self.args = args
        self.root = root  # the visitors' private folders are made in it
        self.forker = forker
        self.world_url = world_url  # the shared simulator's URL, or None: each visitor has a world of their own
        self.visitors = Visitors(args.max_sessions, args.max_per_address)
        self.out = out

    def say(self, line: str) -> None:
        self.out(line, flush=True)
        log.info(line)

    async def visit(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        """One visitor's session: the panel in their terminal until they quit, leave or idle out."""
        connection = process.get_extra_info("connection")
        address = (process.get_extra_info("peername") or ("?", 0))[0]
        user = connection.get_extra_info("username") or "?"
        if process.command is not None or process.subsystem is not None:
            what = f"the command {process.command!r}" if process.command is not None else process.subsystem
            await _leave(process, f"This server shows the outbound-panel demo only: {what} is not available.")
            self.say(f"refused {what} from {user}@{address}")
            return
        term = process.get_terminal_type()
        if term is None:
            await _leave(process, "The demo needs a terminal: connect with ssh -t.")
            return
        if refusal := self.visitors.refusal(address):
            await _leave(process, refusal)
            self.say(f"turned away {user}@{address}: {refusal}")
            return
        argv: list[str] = []
        if self.world_url is not None:
            agent = demo_agent(user)
            if agent is None:
                await _leave(process, f"No demo agent is called {user!r}: connect as alice, bob, carol or dave "
                                      "(ssh -p PORT bob@HOST).")
                return
            argv = ["--agent", agent]
        self.visitors.by_address[address] += 1
        home = tempfile.mkdtemp(prefix="visitor-", dir=self.root)
        started = time.monotonic()
        pid = None
        try:
            cols, rows, _, _ = process.get_terminal_size()
            pid, master = await self.forker.spawn(argv, self._env(home, term), rows or 24, cols or 80)
            self.say(f"visitor {user}@{address} connected ({sum(self.visitors.by_address.values())} of "
                     f"{self.args.max_sessions}): app pid {pid}, files in {home}")
            reason = await _pump(process, master, self.args.idle_timeout)
        finally:
            if pid is not None:
                await _end(pid)
            shutil.rmtree(home, ignore_errors=True)
            self.visitors.by_address[address] -= 1
        if reason:
            with contextlib.suppress(Exception):
                await _leave(process, reason)
        else:
            process.exit(0)
        self.say(f"visitor {user}@{address} left after {time.monotonic() - started:.0f} s"
                 + (f" ({reason})" if reason else ""))

    def _env(self, home: str, term: str) -> dict[str, str]:
        """The app's environment: private directories, the visitor's TERM, and never this server's credentials."""
        env = {"HOME": home, "TERM": term, "LANG": "C.UTF-8", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "XDG_CONFIG_HOME": f"{home}/config", "XDG_DATA_HOME": f"{home}/data",
               "XDG_STATE_HOME": f"{home}/state"}
        if self.world_url is not None:
            from sim import seed

            env.update(TWILIO_BASE_URL=self.world_url, TWILIO_ACCOUNT_SID=seed.ACCOUNT_SID,
                       TWILIO_AUTH_TOKEN=seed.DEMO_AUTH_TOKEN)
        return env


def demo_agent(user: str) -> str | None:
    """The seeded agent an SSH user name picks: 'bob' or 'bob@example.com' is bob@example.com."""
    from sim import seed

    wanted = user.casefold()
    return next((w.friendly_name for w in seed.WORKERS
                 if wanted in (w.friendly_name.casefold(), w.friendly_name.split("@")[0].casefold())), None)


async def _leave(process: asyncssh.SSHServerProcess[bytes], line: str) -> None:
    process.stdout.write(f"{line}\r\n".encode())
    with contextlib.suppress(Exception):
        await process.stdout.drain()
    process.exit(1)


async def _pump(process: asyncssh.SSHServerProcess[bytes], master: int, idle_timeout: float) -> str | None:
    """Bytes both ways between the visitor and the app's terminal, and their window size, until the app ends
    (None) or the visitor is gone or idle (the reason)."""
    import asyncssh

    loop = asyncio.get_running_loop()
    os.set_blocking(master, False)
    ended = loop.create_future()
    last_input = time.monotonic()

    def app_wrote() -> None:
        try:
            data = os.read(master, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: the app has ended and closed its terminal
            data = b""
        if not data:
            loop.remove_reader(master)
            if not ended.done():
                ended.set_result(None)
            return
        process.stdout.write(data)

    async def visitor_typed() -> str:
        nonlocal last_input
        pending = b""
        while True:
            try:
                data = await process.stdin.read(65536)
            except asyncssh.TerminalSizeChanged as changed:
                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", changed.height, changed.width, 0, 0))
                continue
            except asyncssh.BreakReceived:
                continue
            if not data:
                return "the visitor left"
            last_input = time.monotonic()
            pending += data
            while pending:
                try:
                    pending = pending[os.write(master, pending):]
                except BlockingIOError:
                    await asyncio.sleep(0.01)  # the app is not reading: its terminal's buffer is full

    async def idle() -> str:
        while (left := last_input + idle_timeout - time.monotonic()) > 0:
            await asyncio.sleep(left)
        return f"idle for {_spoken(idle_timeout)}: disconnected"

    loop.add_reader(master, app_wrote)
    watchers = [asyncio.ensure_future(ended), asyncio.create_task(visitor_typed()), asyncio.create_task(idle())]
    try:
        done, _ = await asyncio.wait(watchers, return_when=asyncio.FIRST_COMPLETED)
        return next(iter(done)).result()
    finally:
        for watcher in watchers:
            watcher.cancel()
        loop.remove_reader(master)
        os.close(master)


def _spoken(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


async def _end(pid: int) -> None:
    """The app's process group ends: SIGHUP, then SIGKILL if it is still there."""
    for sig, wait in ((signal.SIGHUP, GONE_AFTER), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return


# -- start-up ------------------------------------------------------------------------------------------------


def host_key(path: Path) -> asyncssh.SSHKey:
    """The server's host key: made on first start (ed25519, 0600), then the same for every start."""
    import asyncssh

    if path.exists():
        if path.stat().st_mode & 0o077:
            raise ServeError(f"The host key {path} can be read by others: chmod 600 it (or remove it for a new one).")
        try:
            return asyncssh.read_private_key(path)
        except (asyncssh.KeyImportError, OSError) as error:
            raise ServeError(f"The host key {path} cannot be read ({error}): remove it for a new one.") from None
    key = asyncssh.generate_private_key("ssh-ed25519")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(key.export_private_key())
    return key


def _authorized_keys(args: argparse.Namespace) -> Path | None:
    if args.open:
        return None
    path = args.authorized_keys or Path.home() / ".ssh" / "authorized_keys"
    if not path.is_file():
        raise ServeError(f"No visitors' keys at {path}: give --authorized-keys FILE (their public keys, one per "
                         "line), or --open to let anyone in who can reach the port.")
    try:
        import asyncssh

        asyncssh.read_authorized_keys(str(path))
    except (ValueError, OSError) as error:
        raise ServeError(f"{path} is not an authorized_keys file: {error}") from None
    return path


async def serve(args: argparse.Namespace, ready: asyncio.Future[int] | None = None, out: Any = print) -> None:
    """Runs the server until cancelled; `ready` gets the port once it listens (tests)."""
    try:
        import asyncssh
    except ImportError:
        raise ServeError("serve-ssh needs the ssh extra: pip install 'outbound-panel[ssh]' (asyncssh).") from None
    from tui.forker import Forker

    keys = _authorized_keys(args)
    key = host_key(user_dir("state") / "ssh_host_ed25519_key")
    if args.open:
        out("outbound-panel: warning: --open lets anyone who can reach the port in, without a key", flush=True)
    if args.host not in LOOPBACK:
        out(f"outbound-panel: warning: listening on {args.host}: other machines can connect", flush=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "OUTBOUND_PANEL_"))}
    root = tempfile.mkdtemp(prefix="outbound-panel-ssh-")  # removed by the forker when it ends, however it ends
    forker = Forker.start(env, root)
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(forker.close)
        world_url = None
        if args.shared_world:
            from sim import seed
            from sim.server import Simulator
            from sim.world import SimConfig

            humans = frozenset(w.friendly_name for w in seed.WORKERS)
            world = await stack.enter_async_context(Simulator(SimConfig(humans=humans)))
            world_url = world.base_url
        demo = DemoServer(args, forker, world_url, root, out)

        class Connection(asyncssh.SSHServer):
            def begin_auth(self, username: str) -> bool:
                return not args.open  # --open: in without a key

        try:
            server = await asyncssh.create_server(
                Connection, args.host, args.port, server_host_keys=[key], authorized_client_keys=keys and str(keys),
                process_factory=demo.visit, encoding=None, line_editor=False, allow_scp=False, sftp_factory=None,
                agent_forwarding=False, x11_forwarding=False, login_timeout=30)
        except OSError as error:
            raise ServeError(f"Cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
        stack.callback(server.close)
        port = server.sockets[0].getsockname()[1]
        demo.say(f"Demo over SSH on {args.host}:{port}, host key {key.get_fingerprint()}")
        demo.say(f"Visitors connect with: ssh -p {port} {'bob@' if args.shared_world else ''}{args.host}")
        if ready is not None:
            ready.set_result(port)
        await asyncio.Event().wait()


def ssh_main(args: argparse.Namespace) -> int:
    async def until_stopped() -> None:
        serving = asyncio.create_task(serve(args))
        for sig in (signal.SIGTERM, signal.SIGHUP):  # stopped like ctrl+c: every visitor's app and files go
            asyncio.get_running_loop().add_signal_handler(sig, serving.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await serving

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(until_stopped())
    except ServeError as error:
        print(f"outbound-panel: {error}", file=sys.stderr)
        return 2
    return 0
