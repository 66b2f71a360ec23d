"""An event loop whose clock moves only when everything is waiting for it, for tests.

Deadlines, retry back-off, Retry-After waits, settle windows, poll intervals and the simulator's latency
and hangs are all timers on the event loop's clock (core measures time with `loop.time()`). On this loop
that clock is virtual: it stands still while anything can still happen (a callback is ready, a request
is on its way to or from the simulator, a thread works) and jumps to the next timer the moment nothing
can. So a 10 s deadline costs no real time, and a busy machine cannot make one expire: while the
simulator is still answering, the clock does not move.

What "a request on its way" means is known exactly: every twilio SDK request is tagged, and the
simulator marks the requests it keeps waiting on purpose (`LoggedRequest.held`: latency, a hang). The
clock moves only when every tagged request still unanswered is one the simulator holds.
Real time is for what does not run in this loop: child processes, a pty, Textual (its timers read
`time.monotonic`): those tests use the ordinary loop (marker `real_time`).
"""

from __future__ import annotations

import asyncio
import itertools
import selectors
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from twilio.http.async_http_client import AsyncTwilioHttpClient

from sim.server import Simulator
from sim.world import World

TAG = "X-Test-Request"  # header naming each SDK request, so the loop can tell the simulator holds it
REAL_WAIT = 0.05  # seconds of real time to wait for I/O in flight before looking again
STUCK = 10.0  # seconds of real time with requests in flight, none held and no I/O at all: a test's bug


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0
        self._selector = _JumpingSelector(self._selector, self)  # type: ignore[has-type]
        self.requests: set[str] = set()  # tags of the SDK requests not yet answered
        self.worlds: list[World] = []  # the simulators' worlds, to read which requests they hold
        self.held: set[str] = set()  # tags a test's own server holds (hold())
        self._jobs = 0  # executor jobs running (a thread's result comes back as I/O)

    def time(self) -> float:
        return self._now

    def run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        future = super().run_in_executor(executor, func, *args)
        self._jobs += 1
        future.add_done_callback(self._job_done)
        return future

    def _job_done(self, _: object) -> None:
        self._jobs -= 1

    def still(self) -> bool:
        """Nothing can happen but a timer: no thread works, and every request in flight is held."""
        if self._jobs:
            return False
        if not self.requests:
            return True
        held = self.held | {e.headers.get(TAG, "") for world in self.worlds for e in world.log if e.held}
        return self.requests <= held

    def jump(self, seconds: float) -> None:
        self._now += seconds


class _JumpingSelector:
    """The loop's selector: asked to wait `timeout` for I/O while all is still, it moves the clock instead."""

    def __init__(self, real: selectors.BaseSelector, loop: VirtualTimeLoop) -> None:
        self._real, self._loop = real, loop
        self._idle_since: float | None = None  # real time since when only I/O could move things, and none came

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = self._real.select(0)
        if events or timeout == 0:  # timeout 0: callbacks are ready to run
            self._idle_since = None
            return events
        if timeout is None or not self._loop.still():  # only I/O (or a thread) can move things on
            events = self._real.select(REAL_WAIT if timeout is None else min(timeout, REAL_WAIT))
            self._check_stuck(events, timeout)
            return events
        self._idle_since = None
        self._loop.jump(timeout)  # the next timer is due now
        return []

    def _check_stuck(self, events: list[Any], timeout: float | None) -> None:
        if events or timeout is None or not self._loop.requests:
            self._idle_since = None
            return
        self._idle_since = self._idle_since or time.monotonic()
        if time.monotonic() - self._idle_since > STUCK:
            raise RuntimeError(f"the virtual clock is stuck: requests {sorted(self._loop.requests)} wait for an "
                               "answer no server is giving; a test server that waits on purpose must hold() them")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


async def hold(request: web.Request, seconds: float) -> None:
    """For a test's own server: keeps `request` waiting `seconds`, as the simulator's latency or hang does."""
    loop = asyncio.get_running_loop()
    tag = request.headers.get(TAG, "")
    held = loop.held if isinstance(loop, VirtualTimeLoop) else set()
    held.add(tag)
    try:
        await asyncio.sleep(seconds)
    finally:
        held.discard(tag)


_numbers = itertools.count()
_untagged_request = AsyncTwilioHttpClient.request


async def _tagged_request(self: AsyncTwilioHttpClient, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
    """AsyncTwilioHttpClient.request, tagged and counted as in flight on a virtual-time loop."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, VirtualTimeLoop):
        return await _untagged_request(self, method, url, *args, **kwargs)
    tag = str(next(_numbers))
    if len(args) >= 3:  # params, data, headers given by position
        args = (*args[:2], {**(args[2] or {}), TAG: tag}, *args[3:])
    else:
        kwargs["headers"] = {**(kwargs.get("headers") or {}), TAG: tag}
    loop.requests.add(tag)
    try:
        return await _untagged_request(self, method, url, *args, **kwargs)
    finally:
        loop.requests.discard(tag)


_unregistered_start = Simulator.start


async def _registered_start(self: Simulator) -> str:
    """Simulator.start, telling a virtual-time loop which requests this simulator holds."""
    loop = asyncio.get_running_loop()
    if isinstance(loop, VirtualTimeLoop):
        loop.worlds.append(self.world)
    return await _unregistered_start(self)


def install() -> None:
    """Once per test process: SDK requests are tagged and simulators registered on a virtual-time loop
    (on any other loop both behave as before)."""
    AsyncTwilioHttpClient.request = _tagged_request  # type: ignore[method-assign]
    Simulator.start = _registered_start  # type: ignore[method-assign]
