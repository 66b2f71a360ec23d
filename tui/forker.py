"""One app per SSH visitor, forked from a process that has imported everything already.

A visitor's app costs about a second of CPU when started from scratch (the interpreter, textual, pydantic, twilio,
aiohttp, the simulator); 25 visitors arriving together would queue for it on two cores. The forker pays the imports
once (`python -m tui.forker`, started by serve-ssh) and then forks a child per visitor, in its own session and
pseudo-terminal, which runs `outbound-panel` there as if typed. Its terminal (the pty's master side) goes back to
the server over the control socket.

    forker = Forker.start(env, root)              # the child process; ready once it has imported everything
    pid, master = await forker.spawn(argv, env, rows, cols)   # pid is also the app's process group
    forker.close()                                # the forker and every app it started end

Protocol on a SOCK_SEQPACKET pair: the server sends one JSON request {argv, env, rows, cols}; the forker answers
one message "<pid>" with the master fd attached (SCM_RIGHTS), or "error <sentence>". When the server goes away
(the socket closes, even after a kill -9) the forker ends every app it started, removes `root` (the apps'
private files) and exits: no orphans.
"""

from __future__ import annotations

import asyncio
import fcntl
import gc
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
from collections.abc import Sequence

_PRELOAD = ("tui.cli", "tui.app", "core.session", "sim.server", "tui.commands")  # what every app imports


class Forker:
    """The server's handle on the forker process."""

    def __init__(self, process: subprocess.Popen[bytes], control: socket.socket) -> None:
        self.process = process
        self.control = control
        self._lock = asyncio.Lock()  # one request at a time on the socket

    @classmethod
    def start(cls, env: dict[str, str], root: str) -> Forker:
        """Starts `python -m tui.forker` with `env` (the imports read it); spawn waits until it is ready. `root`:
        the folder of the apps' private files, removed when the forker ends."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        process = subprocess.Popen([sys.executable, "-m", "tui.forker", str(theirs.fileno()), root], env=env,
                                   pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        theirs.close()
        return cls(process, ours)

    async def spawn(self, argv: Sequence[str], env: dict[str, str], rows: int, cols: int) -> tuple[int, int]:
        """A new app running `outbound-panel argv` with `env` in a terminal of rows×cols: (its pid, the master fd)."""
        request = json.dumps({"argv": list(argv), "env": env, "rows": rows, "cols": cols}).encode()
        async with self._lock:
            return await asyncio.to_thread(self._ask, request)

    def _ask(self, request: bytes) -> tuple[int, int]:
        self.control.sendall(request)
        answer, fds, _, _ = socket.recv_fds(self.control, 1024, 1)
        if not answer:
            raise OSError("the forker has ended")
        if answer.startswith(b"error "):
            raise OSError(answer[6:].decode())
        return int(answer), fds[0]

    def close(self) -> None:
        self.control.close()  # the forker ends its apps and exits
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- the forker process ----------------------------------------------------------------------------------------


def serve(control: socket.socket, root: str) -> None:
    """Answers spawn requests until the server closes the socket; then ends every app it started and removes
    `root`."""
    import importlib

    for name in _PRELOAD:
        importlib.import_module(name)
    children: set[int] = set()

    def reap(*_: object) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)

    signal.signal(signal.SIGCHLD, reap)
    gc.collect()
    gc.freeze()  # what is imported stays shared with every child (no copy of the pages the collector would touch)
    try:
        while request := control.recv(1 << 20):
            try:
                pid, master = _fork(json.loads(request), control)
            except (OSError, ValueError, KeyError) as error:
                control.sendall(f"error {error}".encode())
                continue
            children.add(pid)
            socket.send_fds(control, [str(pid).encode()], [master])
            os.close(master)
    finally:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for pid in list(children):
            try:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)  # reaped here: no zombie left for an init that may not reap
            except (ProcessLookupError, ChildProcessError):
                pass
        shutil.rmtree(root, ignore_errors=True)


def _fork(request: dict[str, object], control: socket.socket) -> tuple[int, int]:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", int(request["rows"]), int(request["cols"]), 0, 0))  # type: ignore[call-overload]
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the visitor's app
        code = 1
        try:
            control.close()
            os.close(master)
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            os.close(slave)
            for sig in (signal.SIGCHLD, signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_DFL)
            env = request["env"]
            os.environ.clear()
            os.environ.update(env)  # type: ignore[arg-type]
            os.chdir(os.environ.get("HOME", "/"))
            from tui.cli import main

            code = main(request["argv"])  # type: ignore[arg-type]
        finally:
            os._exit(code)
    os.close(slave)
    return pid, master


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])), sys.argv[2])
