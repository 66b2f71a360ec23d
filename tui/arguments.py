"""Argument types for the command line: a bad value is argparse's one line naming the option and the value."""

from __future__ import annotations

import argparse


def port(text: str) -> int:
    """A TCP port; 0 = any free one."""
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port, 0 to 65535, not {text!r}")
    return int(text)


def count(text: str) -> int:
    """A whole number, 1 or more."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number, 1 or more, not {text!r}")
    return int(text)


def seconds(text: str) -> float:
    """Seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds, 0 or more, not {text!r}")
    return value


def duration(text: str) -> float:
    """Seconds above 0, written 90, 90s, 15m or 1h."""
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    try:
        value = float(number) * units[unit]
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a duration above 0 such as 90s, 15m or 1h, not {text!r}")
    return value


def heartbeat(text: str) -> float:
    """A relay's heartbeat: a duration from HEARTBEATS[0] to HEARTBEATS[1] seconds."""
    from core.settings import HEARTBEATS

    value = duration(text)
    if not HEARTBEATS[0] <= value <= HEARTBEATS[1]:
        raise argparse.ArgumentTypeError(f"expected {HEARTBEATS[0]:g} s to {HEARTBEATS[1]:g} s, not {text!r}")
    return value


def nats(text: str) -> str:
    """A NATS server's URL, or a cluster's comma-separated (core.settings.nats_urls)."""
    from core.settings import nats_urls

    try:
        return nats_urls(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def public_url(text: str) -> str:
    """The http(s) address Twilio posts to: a scheme, a host, perhaps a path; nothing else."""
    from urllib.parse import urlsplit

    parts = urlsplit(text.strip())
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment
            or parts.username is not None or any(c.isspace() for c in text.strip())):
        raise argparse.ArgumentTypeError(f"expected the http(s) address Twilio posts to, e.g. "
                                         f"https://relay.example.com, not {text!r}")
    return text.strip().rstrip("/")
