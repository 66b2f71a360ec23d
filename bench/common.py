"""What the benches share: stdlib only (bench/startup.py runs without the project's packages imported)."""

from __future__ import annotations

import fcntl
import os
import re
import socket
import sys
import termios
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class Unmeasurable(Exception):
    """Something could not be measured; str() says what (and shows the last output)."""


def log(message: str) -> None:
    """Progress and diagnostics: stderr (stdout is the figures)."""
    print(message, file=sys.stderr, flush=True)


def clean_env(home: Path) -> dict[str, str]:
    """No TWILIO_* / OUTBOUND_PANEL_* / TEXTUAL_*: what a fresh login with an empty `home` would have."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO),
    }


def take_terminal() -> None:
    """In a child after setsid() (a Popen preexec_fn): its pty becomes its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def sequences(data: bytes, limit: int = 12) -> str:
    """The distinct escape sequences (and plain text runs) in `data`, most frequent first."""
    counts: dict[bytes, int] = {}
    for token in re.findall(rb"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b\[[0-?]*[ -/]*[@-~]|\x1b.|[^\x1b]+", data):
        counts[token] = counts.get(token, 0) + 1
    top = sorted(counts.items(), key=lambda item: -item[1])[:limit]
    return ", ".join(f"{token[:60]!r}×{count}" for token, count in top)


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Verdicts:
    """Each figure against its target: the suffix a printed line gets, and what was missed (the exit status)."""

    def __init__(self, over: str = "  OVER TARGET") -> None:
        self.over = over
        self.missed: list[str] = []

    def __call__(self, ok: bool, what: str) -> str:
        if not ok:
            self.missed.append(what)
        return "" if ok else self.over
