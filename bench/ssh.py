"""`outbound-panel serve-ssh` under a room of visitors: real SSH clients on loopback, beside the panel started locally.

Run: .venv/bin/python bench/ssh.py            (about 2½ min; needs the ssh extra, asyncssh, in the venv)
     BENCH_SSH_IDLE=10 .venv/bin/python bench/ssh.py      (a shorter idle window, in seconds; default 30)

The server is `python -m tui.cli serve-ssh --port P --authorized-keys F --max-sessions 60 --max-per-address 60`,
a child process in a session of its own, with a clean environment (no TWILIO_* / OUTBOUND_PANEL_* variables;
HOME, XDG_CONFIG_HOME, XDG_DATA_HOME and XDG_STATE_HOME in a temp dir, so its host key is new) and default
private worlds (each visitor has a simulator of their own). F holds the public half of an ed25519 key made for the
run. Visitors are asyncssh clients in this process: asyncssh.connect to 127.0.0.1, then create_process with
term_type xterm-256color, term_size 80×24, encoding None; every byte they receive is read and time-stamped.
One unmeasured visitor goes first (it also waits for the forker to finish its imports).

A visitor's first frame: from just before asyncssh.connect to the read after which the bytes received, with their
escape sequences stripped, hold both "Outbound message" (the send form's title) and "f1 Help" (the key bar, the
bottom row): the key exchange, authentication, the session, the fork of the app and its first screen. The same
test times the local first frame: `python -m tui.cli` in a pty of 80×24, TERM=xterm-256color, the same kind of clean
environment, from just before the spawn; one unmeasured warm-up, then the median of 5 (each quit right after).

Figures, one `name: value` line each on stdout (progress and diagnostics go to stderr):

- local first frame: the median of 5, in s.
- ssh first frame per scenario, p50 (the median) and p95 (nearest rank: the 24th of 25, the 10th of 10):
  1 visitor alone (5 visits one after another, each disconnected before the next); 10 visitors arriving 0.4 s
  apart; 25 visitors arriving 0.4 s apart; 25 visitors at the same instant. A visitor without a first frame within
  60 s (refused, disconnected, too slow) is counted as failed and left out of the percentiles.
- ratio ssh 1-visitor p50 / local first frame p50. Target ≤ 1.3.
- with 25 visitors (the 0.4 s apart scenario), 2 s after the last first frame: VmRSS (/proc/PID/status) and Pss
  (/proc/PID/smaps_rollup) of each app process, medians in MB (MiB). The app pids come from the server's
  "visitor …@… connected (n of N): app pid PID, files in DIR" lines on its stdout. RSS counts the pages an app
  shares with the forker (the imports) in full; PSS divides them among the processes sharing them, so PSS × 25 is
  about what the room costs. Target RSS ≤ 75 MB.
- idle: once those 25 have settled (2 s without a byte to any of them, waited for at most 10 s), bytes all 25 receive
  in BENCH_SSH_IDLE s (default 30) with no input, per second. Target 0 B/s. When something arrives, stderr says
  when and which escape sequences / text.
- server CPU in that idle window: utime+stime (/proc/PID/stat) of the server and of its forker (its child running
  tui.forker), as % of one core. The 25 apps' own CPU in the same window is printed beside it.
- left after disconnect: after each scenario the visitors close their connections; then, waited for at most 5 s,
  the app pids still there (os.kill(pid, 0); a zombie counts and is flagged on stderr) and the visitors' "files in"
  dirs still on disk. Summed over all scenarios: the orphans. Target 0.

Last line: `ssh: 25 sessions, first frame p50=… s p95=… s, rss/session=… MB, idle=… B/s, orphans=…` (first frames of
the 25-arriving-0.4-s-apart scenario; sessions = those of its 25 that got a first frame).

Every wait is bounded. The server is stopped by SIGINT (it then ends its forker, which ends its apps), then SIGTERM
and SIGKILL to its process group; any app of ours still alive after that is killed and reported.
Exit status: 0 when every target is met, 1 when one is missed, 2 when something could not be measured.
"""

from __future__ import annotations

import asyncio
import fcntl
import importlib.util
import math
import os
import pty
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import (Unmeasurable, Verdicts, clean_env, free_port, log, sequences,  # noqa: E402
                          take_terminal)

ROWS, COLS = 24, 80
TERM = "xterm-256color"
MARKERS = ("Outbound message", "f1 Help")  # the form's title, the key bar (bottom row)
ESCAPES = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78])")

LOCAL_RUNS = 5
SOLO_VISITS = 5
SPACING = 0.4  # s between arrivals
FRAME_TIMEOUT = 60.0  # s from connect to first frame before a visitor counts as failed
SERVER_START_TIMEOUT = 30.0
GONE_WAIT = 5.0  # s for apps and their dirs to be gone after the visitors close
SETTLE_QUIET, SETTLE_BOUND = 2.0, 10.0
RSS_AFTER = 2.0

RATIO_TARGET = 1.3
RSS_TARGET_MB = 75.0
IDLE_TARGET = 0.0

CONNECTED = re.compile(r"visitor (\S+) connected \((\d+) of (\d+)\): app pid (\d+), files in (.+)$")


def has_first_frame(output: bytes | bytearray) -> bool:
    if b"Help" not in output:  # cheap test first: the key bar is the last row painted
        return False
    text = ESCAPES.sub(b"", bytes(output)).decode("utf-8", errors="replace")
    return all(marker in text for marker in MARKERS)


def p50(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


# -- the local first frame ---------------------------------------------------------------------------------------


def local_first_frame(env: dict[str, str], cwd: Path) -> float:
    """Seconds from spawning `python -m tui.cli` in a pty to the read that completes its first screen."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    started = time.perf_counter()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "tui.cli"], stdin=slave, stdout=slave, stderr=slave,
                                env={**env, "TERM": TERM}, cwd=cwd, start_new_session=True,
                                preexec_fn=take_terminal, close_fds=True)  # noqa: PLW1509 - no threads yet
    finally:
        os.close(slave)
    output = bytearray()
    took: float | None = None
    try:
        deadline = started + FRAME_TIMEOUT
        while took is None and (left := deadline - time.perf_counter()) > 0:
            ready, _, _ = select.select([master], [], [], min(left, 0.5))
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the app is gone
                data = b""
            if not data:
                break
            output += data
            if has_first_frame(output):
                took = time.perf_counter() - started
        if took is None:
            raise Unmeasurable(f"local app: no first frame within {FRAME_TIMEOUT:.0f} s; last output "
                               f"{bytes(output[-400:])!r}")
        return took
    finally:
        _quit_local(proc, master)


def _quit_local(proc: subprocess.Popen[bytes], master: int) -> None:
    """ctrl+q, then SIGTERM, then SIGKILL to its group, draining its terminal meanwhile; reaps it."""
    try:
        with_key = True
        for sig, wait in ((None, 5.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if proc.poll() is not None:
                break
            try:
                if sig is None:
                    os.write(master, b"\x11")
                else:
                    with_key = False
                    os.killpg(proc.pid, sig)
            except (OSError, ProcessLookupError):
                pass
            end = time.perf_counter() + wait
            while proc.poll() is None and time.perf_counter() < end:
                if select.select([master], [], [], 0.02)[0]:
                    try:
                        os.read(master, 65536)
                    except OSError:
                        pass
        if not with_key:
            log(f"local app {proc.pid} did not quit on ctrl+q")
        try:
            proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            log(f"local app {proc.pid} survived SIGKILL")
    finally:
        os.close(master)


# -- the server ---------------------------------------------------------------------------------------------------


class Server:
    """`serve-ssh` as a child process; its stdout lines kept with their time, its stderr echoed to ours."""

    def __init__(self, env: dict[str, str], cwd: Path, keys: Path) -> None:
        self.requested_port = free_port()
        self.lines: list[tuple[float, str]] = []
        self.errors: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "serve-ssh", "--port", str(self.requested_port), "--authorized-keys",
             str(keys), "--max-sessions", "60", "--max-per-address", "60"],
            env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)
        self._readers = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()
        self.port = 0

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append((time.perf_counter(), raw.decode(errors="replace").rstrip("\n")))

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.errors.append(line)
            log(f"server stderr: {line}")

    def wait_ready(self) -> None:
        end = time.perf_counter() + SERVER_START_TIMEOUT
        while time.perf_counter() < end:
            for _, line in self.lines:
                if found := re.match(r"Demo over SSH on \S+:(\d+), host key (\S+)", line):
                    self.port = int(found.group(1))
                    log(f"server pid {self.proc.pid} listening on port {self.port}, host key {found.group(2)}")
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        time.sleep(0.2)  # let the stderr reader catch up
        raise Unmeasurable(f"the server did not start within {SERVER_START_TIMEOUT:.0f} s (exit status "
                           f"{self.proc.poll()}); stdout {[line for _, line in self.lines]}, stderr {self.errors[-10:]}")

    def since(self, mark: int) -> list[str]:
        return [line for _, line in self.lines[mark:]]

    def forker_pid(self) -> int | None:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if stat_fields(int(entry))[1] != str(self.proc.pid):
                    continue
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    if b"tui.forker" in cmdline.read():
                        return int(entry)
            except (OSError, IndexError):
                continue
        return None

    def stop(self) -> None:
        """SIGINT (the server ends its forker, which ends its apps), then SIGTERM and SIGKILL to its group."""
        for sig, wait in ((signal.SIGINT, 8.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if self.proc.poll() is not None:
                break
            try:
                if sig == signal.SIGINT:
                    self.proc.send_signal(sig)
                else:
                    log(f"server: still running, {signal.Signals(sig).name} to its process group")
                    os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
        with_group_gone_by = time.perf_counter() + 3.0
        while time.perf_counter() < with_group_gone_by:  # the forker is in the server's group
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            log("server: its process group outlived the server; SIGKILL to it")
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for reader in self._readers:
            reader.join(timeout=2.0)


def stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: [state, ppid, pgrp, session, …, utime (11), stime (12), …]."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    try:
        fields = stat_fields(pid)
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_kb(pid: int, path: str, key: str) -> float | None:
    try:
        with open(f"/proc/{pid}/{path}") as status:
            for line in status:
                if line.startswith(key):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def zombie(pid: int) -> bool:
    try:
        return stat_fields(pid)[0] == "Z"
    except (OSError, IndexError):
        return False


# -- visitors -----------------------------------------------------------------------------------------------------


@dataclass
class Visitor:
    index: int
    started: float = 0.0
    first_frame: float | None = None
    error: str | None = None
    output: bytearray = field(default_factory=bytearray)
    chunks: list[tuple[float, int]] = field(default_factory=list)  # (read time, length of output after it)
    eof: bool = False
    connection: Any = None
    process: Any = None
    reader: asyncio.Task[None] | None = None
    framed: asyncio.Event = field(default_factory=asyncio.Event)

    def text_tail(self, chars: int = 300) -> str:
        return ESCAPES.sub(b"", bytes(self.output)).decode("utf-8", errors="replace")[-chars:]

    async def _read(self) -> None:
        try:
            while data := await self.process.stdout.read(65536):
                now = time.perf_counter()
                self.output += data
                self.chunks.append((now, len(self.output)))
                if self.first_frame is None and has_first_frame(self.output):
                    self.first_frame = now - self.started
                    self.framed.set()
        except Exception as error:  # noqa: BLE001 - the connection broke: say so, like EOF
            if self.error is None:
                self.error = f"read failed: {type(error).__name__}: {error}"
        finally:
            self.eof = True
            self.framed.set()

    async def visit(self, port: int, key: Any) -> None:
        import asyncssh

        self.started = time.perf_counter()
        try:
            async with asyncio.timeout(FRAME_TIMEOUT):
                self.connection = await asyncssh.connect(
                    "127.0.0.1", port, username="bench", client_keys=[key], known_hosts=None, agent_path=None,
                    config=None)
                self.process = await self.connection.create_process(term_type=TERM, term_size=(COLS, ROWS),
                                                                    encoding=None)
                self.reader = asyncio.create_task(self._read())
                await self.framed.wait()
        except TimeoutError:
            self.error = f"no first frame within {FRAME_TIMEOUT:.0f} s; screen ends {self.text_tail()!r}"
        except Exception as error:  # noqa: BLE001 - refused, reset, …: a failed visitor, not a failed bench
            self.error = f"{type(error).__name__}: {error}"
        if self.first_frame is None and self.error is None:
            self.error = f"disconnected before a first frame; it received {self.text_tail()!r}"

    async def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            try:
                async with asyncio.timeout(5.0):
                    await self.connection.wait_closed()
            except TimeoutError:
                log(f"visitor {self.index}: connection not closed within 5 s")
        if self.reader is not None:
            try:
                async with asyncio.timeout(2.0):
                    await self.reader
            except TimeoutError:
                self.reader.cancel()


@dataclass
class Scenario:
    name: str
    visitors: list[Visitor]
    server_lines: list[str] = field(default_factory=list)  # the server's stdout lines since it began
    pids: list[int] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    left_pids: list[int] = field(default_factory=list)
    left_dirs: list[str] = field(default_factory=list)

    @property
    def frames(self) -> list[float]:
        return [v.first_frame for v in self.visitors if v.first_frame is not None]

    @property
    def failed(self) -> list[Visitor]:
        return [v for v in self.visitors if v.first_frame is None]

    @property
    def orphans(self) -> int:
        return len(self.left_pids) + len(self.left_dirs)


async def arrive(server: Server, key: Any, name: str, count: int, spacing: float) -> Scenario:
    """`count` visitors, the i-th connecting i × `spacing` s after the first; returns once each has a first frame
    or has failed, and the server has announced their apps."""
    mark = len(server.lines)
    visitors = [Visitor(i) for i in range(count)]
    base = time.perf_counter()

    async def one(visitor: Visitor) -> None:
        await asyncio.sleep(max(0.0, base + visitor.index * spacing - time.perf_counter()))
        await visitor.visit(server.port, key)

    await asyncio.gather(*(one(v) for v in visitors))
    scenario = Scenario(name, visitors)
    framed = len(scenario.frames)
    end = time.perf_counter() + 5.0
    while True:  # the "connected" line is printed before the app paints: normally already there
        scenario.server_lines = server.since(mark)
        connected = [m for line in scenario.server_lines if (m := CONNECTED.search(line))]
        if len(connected) >= framed or time.perf_counter() > end:
            break
        await asyncio.sleep(0.05)
    scenario.pids = [int(m.group(4)) for m in connected]
    scenario.dirs = [m.group(5) for m in connected]
    if len(connected) != framed:
        log(f"{name}: {framed} first frames but {len(connected)} 'connected' lines from the server")
    for visitor in scenario.failed:
        log(f"{name}: visitor {visitor.index} failed: {visitor.error}")
    for line in scenario.server_lines:
        if "turned away" in line or "refused" in line:
            log(f"{name}: server said: {line}")
    return scenario


async def leave(server: Server, scenario: Scenario) -> None:
    """Every visitor closes its connection; then, for at most GONE_WAIT s, wait for the apps and their dirs to go."""
    mark = len(server.lines)
    closed_at = time.perf_counter()
    await asyncio.gather(*(v.close() for v in scenario.visitors))
    end = time.perf_counter() + GONE_WAIT
    while True:
        scenario.left_pids = [pid for pid in scenario.pids if alive(pid)]
        scenario.left_dirs = [d for d in scenario.dirs if os.path.exists(d)]
        if not scenario.left_pids and not scenario.left_dirs or time.perf_counter() > end:
            break
        await asyncio.sleep(0.05)
    took = time.perf_counter() - closed_at
    await asyncio.sleep(0.3)  # the "left" lines come after the dirs are removed
    lines = server.since(mark)
    left_lines = [line for line in lines if " left after " in line]
    log(f"{scenario.name}: all closed; apps and dirs gone after {took:.1f} s" if not scenario.orphans else
        f"{scenario.name}: after {GONE_WAIT:g} s still alive: {scenario.left_pids} "
        f"({sum(zombie(p) for p in scenario.left_pids)} zombies), dirs still there: {scenario.left_dirs}")
    if len(left_lines) != len(scenario.pids):
        log(f"{scenario.name}: the server announced {len(left_lines)} departures of {len(scenario.pids)} visitors")
    reasons = sorted({(found.group(1) if (found := re.search(r" left after \d+ s(?: \((.*)\))?$", line))
                       else line) or "the app ended" for line in left_lines})
    if reasons:
        log(f"{scenario.name}: departures: {', '.join(reasons)}")


def scenario_line(scenario: Scenario) -> str:
    frames = scenario.frames
    if not frames:
        raise Unmeasurable(f"{scenario.name}: no visitor got a first frame")
    failed = f", {len(scenario.failed)} of {len(scenario.visitors)} failed" if scenario.failed else ""
    return (f"ssh first frame, {scenario.name}: p50={p50(frames):.2f} s p95={p95(frames):.2f} s "
            f"(max {max(frames):.2f} s{failed})")


@dataclass
class Steady:
    rss_mb: float
    pss_mb: float
    idle_seconds: float
    idle_bps: float
    server_cpu: float  # % of one core
    forker_cpu: float
    apps_cpu: float


async def settle(visitors: list[Visitor]) -> bool:
    """Until no visitor has received a byte for SETTLE_QUIET s (True), or SETTLE_BOUND s have passed (False)."""
    end = time.perf_counter() + SETTLE_BOUND
    while time.perf_counter() < end:
        last = max((v.chunks[-1][0] for v in visitors if v.chunks), default=0.0)
        if time.perf_counter() - last >= SETTLE_QUIET:
            return True
        await asyncio.sleep(0.05)
    return False


async def steady(server: Server, scenario: Scenario, idle_seconds: float) -> Steady:
    """RSS/PSS 2 s after the last first frame, then bytes and CPU over an idle window."""
    framed = [v for v in scenario.visitors if v.first_frame is not None]
    last_frame = max(v.started + (v.first_frame or 0.0) for v in framed)
    await asyncio.sleep(max(0.0, last_frame + RSS_AFTER - time.perf_counter()))
    rss = [kb for pid in scenario.pids if (kb := status_kb(pid, "status", "VmRSS:")) is not None]
    pss = [kb for pid in scenario.pids if (kb := status_kb(pid, "smaps_rollup", "Pss:")) is not None]
    if not rss:
        raise Unmeasurable(f"{scenario.name}: no VmRSS for any of the app pids {scenario.pids}")
    log(f"{scenario.name}: RSS of the {len(rss)} apps {min(rss) / 1024:.1f}–{max(rss) / 1024:.1f} MB, "
        f"PSS {min(pss, default=0) / 1024:.1f}–{max(pss, default=0) / 1024:.1f} MB")
    if not await settle(framed):
        log(f"{scenario.name}: output never paused for {SETTLE_QUIET:g} s within {SETTLE_BOUND:g} s; "
            "measuring idle anyway")
    forker = server.forker_pid()
    if forker is None:
        log("server: no child running tui.forker found; its CPU is left out")
    log(f"{scenario.name}: idle for {idle_seconds:g} s (server pid {server.proc.pid}, forker pid {forker}) …")
    offsets = [len(v.output) for v in framed]
    cpu_before = (cpu_seconds(server.proc.pid), cpu_seconds(forker) if forker else 0.0,
                  sum(cpu_seconds(pid) for pid in scenario.pids))
    started = time.perf_counter()
    await asyncio.sleep(idle_seconds)
    elapsed = time.perf_counter() - started
    cpu_after = (cpu_seconds(server.proc.pid), cpu_seconds(forker) if forker else 0.0,
                 sum(cpu_seconds(pid) for pid in scenario.pids))
    received = 0
    for visitor, offset in zip(framed, offsets):
        got = len(visitor.output) - offset
        received += got
        if got:
            when = [f"+{t - started:.1f} s" for t, end in visitor.chunks if end > offset][:6]
            log(f"{scenario.name}: idle visitor {visitor.index} received {got} B at {', '.join(when)}; "
                f"{sequences(bytes(visitor.output[offset:]))}")
        if visitor.eof:
            log(f"{scenario.name}: visitor {visitor.index} was disconnected: {visitor.text_tail(200)!r}")
    server_cpu, forker_cpu, apps_cpu = ((after - before) / elapsed * 100 for before, after in zip(cpu_before, cpu_after))
    return Steady(statistics.median(rss) / 1024, statistics.median(pss) / 1024 if pss else float("nan"),
                  elapsed, received / elapsed, server_cpu, forker_cpu, apps_cpu)


# -- the run ------------------------------------------------------------------------------------------------------


async def over_ssh(server: Server, key: Any, idle_seconds: float) -> tuple[list[Scenario], Steady]:
    log("warm-up visitor (unmeasured; waits for the forker's imports) …")
    warm = await arrive(server, key, "warm-up", 1, 0.0)
    if not warm.frames:
        raise Unmeasurable(f"the warm-up visitor got no first frame: {warm.visitors[0].error}; "
                           f"server said {warm.server_lines}")
    log(f"warm-up visitor: first frame {warm.frames[0]:.2f} s")
    await leave(server, warm)
    scenarios: list[Scenario] = []

    solo = Scenario("1 visitor", [])
    log(f"1 visitor: {SOLO_VISITS} visits, one at a time …")
    for _ in range(SOLO_VISITS):
        one = await arrive(server, key, "1 visitor", 1, 0.0)
        await leave(server, one)
        for visitor in one.visitors:
            visitor.index = len(solo.visitors)
            solo.visitors.append(visitor)
        solo.pids += one.pids
        solo.dirs += one.dirs
        solo.left_pids += one.left_pids
        solo.left_dirs += one.left_dirs
    scenarios.append(solo)
    print(scenario_line(solo), flush=True)

    log(f"10 visitors, {SPACING:g} s apart …")
    ten = await arrive(server, key, f"10 visitors {SPACING:g} s apart", 10, SPACING)
    print(scenario_line(ten), flush=True)
    await leave(server, ten)
    scenarios.append(ten)

    log(f"25 visitors, {SPACING:g} s apart …")
    room = await arrive(server, key, f"25 visitors {SPACING:g} s apart", 25, SPACING)
    print(scenario_line(room), flush=True)
    try:
        state = await steady(server, room, idle_seconds)
    finally:
        await leave(server, room)
    scenarios.append(room)

    log("25 visitors at once …")
    rush = await arrive(server, key, "25 visitors at once", 25, 0.0)
    print(scenario_line(rush), flush=True)
    await leave(server, rush)
    scenarios.append(rush)
    scenarios.append(warm)  # for the orphan count only
    return scenarios, state


def main() -> int:
    if importlib.util.find_spec("asyncssh") is None or importlib.util.find_spec("textual") is None:
        log(f"{sys.executable} lacks asyncssh or textual: run with the project's venv (.venv/bin/python)")
        return 2
    import asyncssh

    try:
        idle_seconds = float(os.environ.get("BENCH_SSH_IDLE", "30"))
    except ValueError:
        idle_seconds = -1.0
    if not idle_seconds > 0:
        log(f"BENCH_SSH_IDLE must be a number of seconds above 0, not {os.environ['BENCH_SSH_IDLE']!r}")
        return 2

    verdict = Verdicts()

    with tempfile.TemporaryDirectory(prefix="outbound-panel-bench-ssh-") as tmp:
        root = Path(tmp)
        local_home, server_home = root / "local", root / "server"
        local_home.mkdir()
        server_home.mkdir()
        local_env, server_env = clean_env(local_home), clean_env(server_home)
        try:
            log(f"local first frame: 1 warm-up, then {LOCAL_RUNS} runs …")
            local_first_frame(local_env, local_home)
            local = [local_first_frame(local_env, local_home) for _ in range(LOCAL_RUNS)]
            log(f"local first frames: {', '.join(f'{t:.2f}' for t in local)} s")
        except Unmeasurable as problem:
            log(f"ssh bench: {problem}")
            return 2
        print(f"local first frame (median of {LOCAL_RUNS}): {p50(local):.2f} s", flush=True)

        key = asyncssh.generate_private_key("ssh-ed25519")
        keys = root / "authorized_keys"
        keys.write_bytes(key.export_public_key())
        server = Server(server_env, server_home, keys)
        all_pids: list[int] = []
        try:
            server.wait_ready()
            scenarios, state = asyncio.run(over_ssh(server, key, idle_seconds))
            all_pids = [pid for s in scenarios for pid in s.pids]
        except Unmeasurable as problem:
            log(f"ssh bench: {problem}")
            return 2
        finally:
            log("stopping the server …")
            server.stop()
            still = [pid for pid in set(all_pids) if alive(pid)]
            for pid in still:  # ours (the server forked them) and in a session of their own
                try:
                    if os.getsid(pid) == pid:
                        os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if still:
                log(f"apps still alive after the server stopped (killed now): {still}")
            if server.proc.returncode not in (0, None):
                log(f"server exit status {server.proc.returncode}")

    solo, _, room, _, _ = scenarios
    orphans = sum(s.orphans for s in scenarios)
    ratio = p50(solo.frames) / p50(local)
    cpu_seconds_used = (state.server_cpu + state.forker_cpu) / 100 * state.idle_seconds
    lines = [
        (f"first frame ratio ssh 1-visitor p50 / local p50: {ratio:.2f} (target ≤ {RATIO_TARGET:g})"
         + verdict(ratio <= RATIO_TARGET, "first frame ratio")),
        (f"rss per session, 25 visitors (median): {state.rss_mb:.1f} MB (target ≤ {RSS_TARGET_MB:g})"
         + verdict(state.rss_mb <= RSS_TARGET_MB, "RSS")),
        f"pss per session, 25 visitors (median): {state.pss_mb:.1f} MB",
        (f"idle, 25 visitors over {state.idle_seconds:.0f} s: {state.idle_bps:.1f} B/s (target {IDLE_TARGET:g})"
         + verdict(state.idle_bps <= IDLE_TARGET, "idle")),
        (f"server CPU, 25 idle visitors: {state.server_cpu + state.forker_cpu:.1f} % of one core "
         f"(server {state.server_cpu:.2f} % + forker {state.forker_cpu:.2f} %, {cpu_seconds_used:.2f} CPU s "
         f"in {state.idle_seconds:.0f} s)"),
        f"apps CPU, 25 idle visitors (all 25 together): {state.apps_cpu:.1f} % of one core",
        (f"left after disconnect: {sum(len(s.left_pids) for s in scenarios)} app processes, "
         f"{sum(len(s.left_dirs) for s in scenarios)} visitor dirs (target 0)" + verdict(orphans == 0, "orphans")),
        f"visitors without a first frame: {sum(len(s.failed) for s in scenarios)}",
        f"server stderr lines: {len(server.errors)}",
        (f"ssh: {len(room.frames)} sessions, first frame p50={p50(room.frames):.2f} s p95={p95(room.frames):.2f} s, "
         f"rss/session={state.rss_mb:.1f} MB, idle={state.idle_bps:.1f} B/s, orphans={orphans}"),
    ]
    print("\n".join(lines), flush=True)
    if verdict.missed:
        log(f"targets missed: {', '.join(verdict.missed)}")
    if any(s.failed for s in scenarios):
        return 2
    return 1 if verdict.missed else 0


if __name__ == "__main__":
    sys.exit(main())
