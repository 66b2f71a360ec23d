"""Test knobs: latency, fault injection per endpoint, and the request log."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

FaultKind = Literal["status", "reset", "timeout", "drop"]


@dataclass
class Fault:
    """What to do to the next matching requests.

    kind: "status" answers `status`/`code` without doing anything; "reset" closes the connection
    before doing anything; "timeout" holds the request for `hang` seconds and then does it (the
    client has given up by then); "drop" does the request, then closes the connection without an
    answer (commit then drop the response).
    """

    path: str  # regular expression, matched against the whole path
    kind: FaultKind = "status"
    method: str | None = None  # None = any method
    status: int = 500
    code: int | None = None  # Twilio error code; defaults to the HTTP status
    message: str = "Simulated failure"
    retry_after: int | None = None  # seconds, sent as Retry-After
    hang: float = 30.0
    times: int | None = 1  # None = every matching request until cleared

    def __post_init__(self) -> None:
        """Checks every field (the control API passes what a client sent): ValueError says what is wrong."""
        if not isinstance(self.path, str):
            raise ValueError("'path' must be a regular expression (a string)")
        if len(self.path) > 300 or _REPEATED_GROUP.search(self.path) or len(_UNBOUNDED.findall(self.path)) > 4:
            # matched against every request: a pattern that can backtrack for ever would stall the simulator
            raise ValueError("'path' must be a short regular expression without a repeated group and with at most "
                             "four * or +, e.g. /v1/Conversations/CH[0-9a-f]+/Messages")
        try:
            self._pattern = re.compile(self.path)
        except (re.error, OverflowError, RecursionError) as error:
            raise ValueError(f"'path' is not a regular expression: {error}") from None
        if self.kind not in get_args(FaultKind):
            raise ValueError(f"'kind' must be one of {', '.join(get_args(FaultKind))}, not {self.kind!r}")
        if self.method is not None and self.method not in _METHODS:
            raise ValueError(f"'method' must be one of {', '.join(sorted(_METHODS))}, not {self.method!r}")
        _integer("status", self.status, 400, 599)  # a fault is a failure
        if self.code is not None:
            _integer("code", self.code, 1, 99999)
        if self.retry_after is not None:
            _integer("retry_after", self.retry_after, 0, 3600)
        if self.times is not None:
            _integer("times", self.times, 1, 10**6)
        if not isinstance(self.message, str):
            raise ValueError("'message' must be a string")
        self.hang = seconds("hang", self.hang)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self._pattern.fullmatch(path) is not None


_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
# patterns that can backtrack for ever: a repeated group ((a*)*, (.|\w)*, (x){9}), or many unbounded repeats
_REPEATED_GROUP = re.compile(r"\)\s*[*+{]")
_UNBOUNDED = re.compile(r"(?<!\\)[*+]")


def _integer(name: str, value: object, least: int, most: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= most:
        raise ValueError(f"'{name}' must be a whole number from {least} to {most}, not {value!r}")


def seconds(name: str, value: object, most: float = 3600.0) -> float:
    """A number of seconds a client asked for: finite, 0 or more, at most `most`; else ValueError saying so."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= most:
        raise ValueError(f"'{name}' must be a number of seconds from 0 to {most:g}, not {value!r}")
    return float(value)


@dataclass
class Faults:
    rules: list[Fault] = field(default_factory=list)

    def add(self, fault: Fault) -> Fault:
        self.rules.append(fault)
        return fault

    def clear(self) -> None:
        self.rules.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first rule matching this request, counting one use of it."""
        for rule in self.rules:
            if rule.matches(method, path):
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self.rules.remove(rule)
                return rule
        return None


@dataclass
class LoggedRequest:
    """One request as the simulator saw it, and what it answered (status None = no answer)."""

    method: str
    host: str  # the public product host the request was meant for
    path: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    headers: dict[str, str]
    started: float  # seconds on the event loop's clock
    duration: float = 0.0
    held: bool = False  # the simulator is keeping it waiting (latency or a "timeout" fault's hang)
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    fault: FaultKind | None = None

    def param(self, name: str) -> str | None:
        for key, value in (*self.form, *self.query):
            if key == name:
                return value
        return None


class RequestLog(list[LoggedRequest]):
    def matching(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        return [
            r
            for r in self
            if (method is None or r.method == method) and (path is None or re.fullmatch(path, r.path))
        ]

    def sequential_round_trips(self, start: int = 0) -> int:
        """sequential_round_trips of the requests from `start` on."""
        return sequential_round_trips(self[start:])


def sequential_round_trips(requests: Sequence[LoggedRequest]) -> int:
    """How many of these requests ran one after another: the longest chain in which each request
    started after the previous one had been answered. Concurrent requests share a step."""
    entries = sorted(requests, key=lambda r: r.started)
    depth: list[int] = []
    for i, entry in enumerate(entries):
        before = [depth[j] for j in range(i) if entries[j].started + entries[j].duration <= entry.started]
        depth.append(1 + max(before, default=0))
    return max(depth, default=0)
