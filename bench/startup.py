"""Startup, memory and terminal-traffic figures for `outbound-panel`, beside a minimal Textual app.

Run: .venv/bin/python bench/startup.py            (about 75 s; stdlib only, drives the apps in a pty)

Both apps run under `sys.executable` (use the project's venv) in a pseudo-terminal of 80×24 with
TERM=xterm-256color and a clean environment: no TWILIO_* / OUTBOUND_PANEL_* / TEXTUAL_* variables,
HOME and XDG_CONFIG_HOME pointing at an empty temp dir (no user settings file), cwd = that temp dir
(no .env). So ours starts its embedded Twilio simulator in-process, as the demo does.

  ours     `python -m tui.cli` with PYTHONPATH = this checkout
  minimal  an App whose only widget is one Static (inline `-c` code, MINIMAL_APP below)

Nothing answers the terminal queries the apps send (DECRQM 2026/2048): both see a terminal without
synchronized output, the same for both.

Figures, one `name: value` line each on stdout (progress and diagnostics go to stderr):

- first frame: from just before the process is spawned to the moment we read the pty chunk that
  completes the first full screen. Textual enters the alternate screen, sends its mode set-up, then
  writes each frame as one write() that reaches us in several chunks (the pty hands out ≤ 4 KiB at
  a time). A frame is detected as: the app's marker text (ours: the product name on its top
  line; minimal: the Static's text), then a cursor move to the last row (24), then the frame's closing
  cursor placement on another row. If that closing move never comes, the time of the last chunk of
  the burst holding the marker is used (flagged on stderr). Medians of --runs spawns of each,
  interleaved ours, minimal, ours, … after one unmeasured warm-up of each (pyc and disk caches).
  Each spawn is quit right after its first frame. Budget (issue 15): ours ≤ 1.9 × minimal.
- RSS after start: VmRSS from /proc/<pid>/status 2 s after the first frame, in MB (MiB) — for ours
  this includes the embedded simulator, which runs in the same process. Budget (issue 15) ≤ 75 MB.
- idle: once output has settled (2 s without a byte, waited for at most 10 s), bytes written to
  the pty in --idle-seconds (10) with no input, per second. Budget 0 B/s. A 10 s window can miss
  a periodic timer (ours refreshes the agent's activity every 15 s), so ours keeps idling up to
  --long-idle-seconds (30) in all and that is reported too, with the same budget. When an app
  writes while idle, stderr shows when (bursts) and which escape sequences / text it wrote.
- bytes per typed character, twice: keys sent one by one 100 ms apart (so each can get its own
  repaint), then read until 1 s without output; bytes written minus the idle rate over that time,
  divided by the keys. First --chars (20) presses of `x`, bound in neither app: in the minimal app
  it changes nothing (0); in ours the focused destination field rejects it (its `restrict` allows
  phone characters only), which Textual answers with a bell (BEL, 1 byte). Then the number
  `+14155550100` typed into whatever has focus: in ours the destination field, so this is the echo
  cost of typing (the field, its formatted ✓/✗ mark, the send button and the problem line
  repainting); the minimal app has no input, so 0. Budget (issue 15): ≤ 600 B per key, the first included.

Each app is quit by ctrl+q (its quit key in both), then SIGTERM, then SIGKILL to its process
group, all with bounded waits; `quit by key` lines count the runs that exited on the key alone.

Exit status: 0 when every budget is met, 1 when one is missed, 2 when an app could not be measured.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib.util
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
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import Unmeasurable, Verdicts, clean_env, log, sequences, take_terminal  # noqa: E402

ROWS, COLS = 24, 80

FIRST_FRAME_BUDGET = 1.9  # × the minimal app's
RSS_BUDGET_MB = 75.0
TYPING_BUDGET = 600.0  # B per key of the typed number, the first included
IDLE_BUDGET = 0.0  # B/s

MINIMAL_MARKER = "minimal-bench-static"
MINIMAL_APP = f"""
from textual.app import App
from textual.widgets import Static

class MinimalApp(App):
    def compose(self):
        yield Static({MINIMAL_MARKER!r})

MinimalApp().run()
"""

CURSOR_MOVE = re.compile(rb"\x1b\[(\d+);(\d+)H")
SPAWN_TIMEOUT = 20.0  # s to the first frame before giving up on a run


@dataclass(frozen=True)
class AppSpec:
    name: str
    argv: list[str]
    marker: bytes  # text painted in the first frame
    quit_key: bytes


QUIT = b"\x11"  # ctrl+q: ours binds it (id "quit"), and it is Textual's own quit key for the minimal app
OURS = AppSpec("ours", [sys.executable, "-m", "tui.cli"], b"outbound-panel", QUIT)
MINIMAL = AppSpec("minimal", [sys.executable, "-c", MINIMAL_APP], MINIMAL_MARKER.encode(), QUIT)
UNBOUND_KEY = b"x"
TYPED_NUMBER = b"+14155550100"  # typed into whatever has focus; in ours that is the destination field


def first_frame_end(buffer: bytes | bytearray, marker: bytes) -> int | None:
    """Offset just past the first full frame holding `marker`, or None while it is incomplete."""
    start = buffer.find(marker)
    if start < 0:
        return None
    last_row_written = False
    for move in CURSOR_MOVE.finditer(buffer, start):
        row = int(move.group(1))
        if row == ROWS:
            last_row_written = True
        elif last_row_written:
            return move.end()
    return None


class Session:
    """One app in its own pty; every byte it writes is read (so it never blocks) and time-stamped."""

    def __init__(self, app: AppSpec, env: dict[str, str], cwd: str) -> None:
        self.app = app
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.master = master
        self.output = bytearray()
        self.chunks: list[tuple[float, int]] = []  # (read time, offset in output after the chunk)
        self.eof = False
        self.started = time.perf_counter()
        try:
            self.proc = subprocess.Popen(
                app.argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                start_new_session=True, preexec_fn=take_terminal, close_fds=True,
            )
        finally:
            os.close(slave)
        os.set_blocking(master, False)

    # -- reading ---------------------------------------------------------------------------------

    def pump(self, timeout: float) -> bool:
        """Wait up to `timeout` s for output and read what is there; True when something was read."""
        if self.eof:
            time.sleep(max(timeout, 0))
            return False
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0))
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return False
        except OSError:  # EIO: the slave side is closed, the app is gone
            data = b""
        if not data:
            self.eof = True
            return False
        now = time.perf_counter()
        self.output += data
        self.chunks.append((now, len(self.output)))
        return True

    def read_for(self, seconds: float) -> int:
        """Read for `seconds`; returns the bytes written meanwhile."""
        before, end = len(self.output), time.perf_counter() + seconds
        while (left := end - time.perf_counter()) > 0:
            self.pump(left)
        return len(self.output) - before

    def read_until_quiet(self, quiet: float, bound: float) -> bool:
        """Read until `quiet` s pass without output (True) or `bound` s pass (False)."""
        end = time.perf_counter() + bound
        last = time.perf_counter()
        while (now := time.perf_counter()) < end:
            if now - last >= quiet:
                return True
            if self.pump(min(quiet - (now - last), end - now)):
                last = time.perf_counter()
            elif self.eof:
                return True
        return False

    def wait_first_frame(self, timeout: float = SPAWN_TIMEOUT) -> float:
        """Seconds from spawn to the read that completed the first frame."""
        end = self.started + timeout
        marker_seen_at: float | None = None
        while time.perf_counter() < end and not self.eof:
            if not self.pump(min(0.05, end - time.perf_counter())):
                if marker_seen_at is not None and time.perf_counter() - marker_seen_at > 1.0:
                    return self._burst_end_fallback()
                continue
            if first_frame_end(self.output, self.app.marker) is not None:
                return self.chunks[-1][0] - self.started
            if marker_seen_at is None and self.app.marker in self.output:
                marker_seen_at = time.perf_counter()
        raise Unmeasurable(
            f"{self.app.name}: no first frame within {timeout:.0f} s"
            f"{' (the app exited)' if self.eof else ''}; last output: {bytes(self.output[-600:])!r}"
        )

    def _burst_end_fallback(self) -> float:
        if b"\x1b[?1049l" in self.output:  # left the alternate screen: a crash report, not a frame
            raise Unmeasurable(f"{self.app.name}: left the screen before painting; "
                               f"last output: {bytes(self.output[-600:])!r}")
        start = self.output.find(self.app.marker)
        chunk = next(i for i, (_, offset) in enumerate(self.chunks) if offset > start)
        while chunk + 1 < len(self.chunks) and self.chunks[chunk + 1][0] - self.chunks[chunk][0] < 0.1:
            chunk += 1
        log(f"{self.app.name}: frame end not recognised; used the end of the burst holding the marker")
        return self.chunks[chunk][0] - self.started

    # -- the process -----------------------------------------------------------------------------

    def rss_mb(self) -> float:
        try:
            with open(f"/proc/{self.proc.pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except FileNotFoundError:
            pass
        raise Unmeasurable(f"{self.app.name}: no VmRSS in /proc/{self.proc.pid}/status")

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> bool:
        """Quit by key, then SIGTERM, then SIGKILL; reaps the child. True when the key sufficed."""
        by_key = False
        try:
            if self.proc.poll() is None:
                try:
                    self.type(self.app.quit_key)
                except OSError:
                    pass
                by_key = self._wait_exit(5.0)
                for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
                    if self.proc.poll() is not None:
                        break
                    try:
                        os.killpg(self.proc.pid, sig)
                    except ProcessLookupError:
                        break
                    self._wait_exit(wait)
            try:
                self.proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                log(f"{self.app.name}: pid {self.proc.pid} survived SIGKILL")
        finally:
            os.close(self.master)
        return by_key and self.proc.returncode == 0

    def _wait_exit(self, seconds: float) -> bool:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            if self.proc.poll() is not None:
                return True
            self.pump(0.02)  # keep draining: the app writes its terminal restore on the way out
        return self.proc.poll() is not None


@dataclass
class Steady:
    rss_mb: float
    idle_bps: float
    long_idle_bps: float | None
    per_unbound_key: float
    per_number_key: float
    quit_by_key: bool


def bursts(session: Session, offset: int, since: float) -> str:
    """When the bytes after `offset` arrived: `N B at +T s` per burst (chunks < 0.1 s apart)."""
    groups: list[list[float]] = []  # [first time, last time, bytes]
    previous = offset
    for when, end in session.chunks:
        if end <= offset:
            continue
        if groups and when - groups[-1][1] < 0.1:
            groups[-1][1] = when
            groups[-1][2] += end - previous
        else:
            groups.append([when, when, end - previous])
        previous = end
    return ", ".join(f"{size:.0f} B at +{first - since:.1f} s" for first, _, size in groups[:8])


def steady_state(app: AppSpec, env: dict[str, str], cwd: str, idle_seconds: float, long_idle_seconds: float,
                 chars: int) -> Steady:
    session = Session(app, env, cwd)
    try:
        session.wait_first_frame()
        session.read_for(2.0)
        rss = session.rss_mb()
        if not session.read_until_quiet(quiet=2.0, bound=10.0):
            log(f"{app.name}: output never paused for 2 s within 10 s; measuring idle anyway")
        idle_from, idle_started = len(session.output), time.perf_counter()
        idle_bytes = session.read_for(idle_seconds)
        idle_bps = idle_bytes / idle_seconds
        long_idle_bps = None
        if long_idle_seconds > idle_seconds:
            long_idle_bps = (idle_bytes + session.read_for(long_idle_seconds - idle_seconds)) / long_idle_seconds
        if len(session.output) > idle_from:
            log(f"{app.name} idle wrote {len(session.output) - idle_from} B in "
                f"{max(idle_seconds, long_idle_seconds if long_idle_bps is not None else 0):g} s, "
                f"{bursts(session, idle_from, idle_started)}; "
                f"sequences: {sequences(bytes(session.output[idle_from:]))}")
        per_unbound = bytes_per_key(session, UNBOUND_KEY * chars, idle_bps)
        per_digit = bytes_per_key(session, TYPED_NUMBER, idle_bps)
        if session.eof or session.proc.poll() is not None:
            raise Unmeasurable(f"{app.name}: exited while being measured (status {session.proc.poll()})")
    finally:
        quit_by_key = session.close()
    return Steady(rss, idle_bps, long_idle_bps, per_unbound, per_digit, quit_by_key)


def bytes_per_key(session: Session, keys: bytes, idle_bps: float) -> float:
    """Types `keys` one by one, 100 ms apart, then reads until 1 s of quiet: bytes written per key,
    less what idling would have written meanwhile."""
    typed_from, started = len(session.output), time.perf_counter()
    marks = []
    for key in keys:
        marks.append(len(session.output))
        session.type(bytes([key]))
        session.read_for(0.1)
    session.read_until_quiet(quiet=1.0, bound=5.0)
    marks.append(len(session.output))
    written = len(session.output) - typed_from
    if written:
        each = [after - before for before, after in zip(marks, marks[1:])]
        log(f"{session.app.name} typing {keys.decode()!r} wrote {written} B, per key {each}; sequences: "
            f"{sequences(bytes(session.output[typed_from:]))}")
    return max(written - idle_bps * (time.perf_counter() - started), 0.0) / len(keys)


def first_frames(
    env: dict[str, str], cwd: str, runs: int, verbose: bool
) -> tuple[dict[str, list[float]], dict[str, int]]:
    times: dict[str, list[float]] = {OURS.name: [], MINIMAL.name: []}
    quits = {OURS.name: 0, MINIMAL.name: 0}
    for run in range(runs + 1):  # run 0 warms caches and is not counted
        for app in (OURS, MINIMAL):
            session = Session(app, env, cwd)
            try:
                took = session.wait_first_frame()
            finally:
                quit_by_key = session.close()
            if run:
                times[app.name].append(took)
                quits[app.name] += quit_by_key
            if verbose:
                log(f"{app.name} run {run}{' (warm-up)' if not run else ''}: first frame {took * 1000:.0f} ms")
    return times, quits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="first-frame spawns of each app (default 10)")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="idle window (default 10)")
    parser.add_argument("--long-idle-seconds", type=float, default=30.0,
                        help="ours only: keep idling to this many s in all, past its 15 s agent refresh (default 30; "
                             "0 = off)")
    parser.add_argument("--chars", type=int, default=20, help="keys typed (default 20)")
    parser.add_argument("-v", "--verbose", action="store_true", help="each run's time on stderr")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.chars < 1 or args.idle_seconds <= 0:
        parser.error("--runs and --chars must be at least 1, --idle-seconds above 0")
    if importlib.util.find_spec("textual") is None:
        print(f"{sys.executable} has no textual: run with the project's venv (.venv/bin/python)", file=sys.stderr)
        return 2

    verdict = Verdicts("  OVER BUDGET")

    with tempfile.TemporaryDirectory(prefix="outbound-panel-bench-") as home:
        env = clean_env(Path(home))
        try:
            log(f"first frames: {args.runs} interleaved spawns of each app, after a warm-up …")
            times, quits = first_frames(env, home, args.runs, args.verbose)
            steady: dict[str, Steady] = {}
            for app in (OURS, MINIMAL):
                long_idle = args.long_idle_seconds if app is OURS else 0.0
                log(f"{app.name}: RSS, {max(args.idle_seconds, long_idle):g} s idle, typed keys …")
                steady[app.name] = steady_state(app, env, home, args.idle_seconds, long_idle, args.chars)
        except Unmeasurable as problem:
            print(f"startup bench: {problem}", file=sys.stderr)
            return 2

    ours_ms = statistics.median(times["ours"]) * 1000
    minimal_ms = statistics.median(times["minimal"]) * 1000
    ratio = ours_ms / minimal_ms
    for name in ("ours", "minimal"):
        spread = sorted(times[name])
        log(f"{name} first frame spread: {spread[0] * 1000:.0f}–{spread[-1] * 1000:.0f} ms")
    ours, minimal = steady["ours"], steady["minimal"]
    unbound = f"{UNBOUND_KEY.decode()} ×{args.chars}"
    number = f"typing {TYPED_NUMBER.decode()}"
    lines = [
        f"ours first frame (median of {len(times['ours'])}): {ours_ms:.0f} ms",
        f"minimal first frame (median of {len(times['minimal'])}): {minimal_ms:.0f} ms",
        f"first frame ratio ours/minimal: {ratio:.2f} (budget {FIRST_FRAME_BUDGET:g})"
        + verdict(ratio <= FIRST_FRAME_BUDGET, "first frame"),
        f"ours RSS after start: {ours.rss_mb:.1f} MB (budget {RSS_BUDGET_MB:g})"
        + verdict(ours.rss_mb <= RSS_BUDGET_MB, "RSS"),
        f"minimal RSS after start: {minimal.rss_mb:.1f} MB",
        f"ours idle: {ours.idle_bps:.1f} B/s (budget {IDLE_BUDGET:g})" + verdict(ours.idle_bps <= IDLE_BUDGET, "idle"),
        f"minimal idle: {minimal.idle_bps:.1f} B/s",
    ]
    if ours.long_idle_bps is not None:
        lines.append(f"ours idle over {args.long_idle_seconds:g} s: {ours.long_idle_bps:.1f} B/s "
                     f"(budget {IDLE_BUDGET:g})"
                     + verdict(ours.long_idle_bps <= IDLE_BUDGET, f"idle over {args.long_idle_seconds:g} s"))
    lines += [
        f"ours bytes per typed character ({unbound}): {ours.per_unbound_key:.1f}",
        f"minimal bytes per typed character ({unbound}): {minimal.per_unbound_key:.1f}",
        f"ours bytes per typed character ({number}): {ours.per_number_key:.1f} (budget {TYPING_BUDGET:g})"
        + verdict(ours.per_number_key <= TYPING_BUDGET, "typing"),
        f"minimal bytes per typed character ({number}): {minimal.per_number_key:.1f}",
        f"ours quit by key: {quits['ours'] + ours.quit_by_key}/{len(times['ours']) + 1}",
        f"minimal quit by key: {quits['minimal'] + minimal.quit_by_key}/{len(times['minimal']) + 1}",
    ]
    print("\n".join(lines), flush=True)
    if verdict.missed:
        log(f"budgets missed: {', '.join(verdict.missed)}")
    return 1 if verdict.missed else 0


if __name__ == "__main__":
    sys.exit(main())
