"""The simulator's clock: real time for the demo, a manual clock tests move by hand."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Any, Callable


class Clock:
    """Time and timers for everything the simulator does later (delivery, replies, timeouts).

    Real mode uses the event loop's timers. Manual mode (`manual=True`) never moves on its own:
    `advance(seconds)` moves it and runs every timer that falls due, in order, and wakes the tasks
    whose sleep() it passed (a status watcher in a test sleeps on it).
    """

    def __init__(self, manual: bool = False, start: float | None = None) -> None:
        self.manual = manual
        self._offset = (start if start is not None else time.time()) - time.monotonic()
        self._virtual = start if start is not None else time.time()
        self._timers: list[tuple[float, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._handles: set[asyncio.TimerHandle] = set()
        self._sleeping: set[asyncio.Future[None]] = set()

    def now(self) -> float:
        """Seconds since the epoch, as the simulated world sees it."""
        return self._virtual if self.manual else self._offset + time.monotonic()

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> None:
        if self.manual:
            heapq.heappush(self._timers, (self._virtual + max(delay, 0.0), next(self._seq), callback, args))
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._handles.discard(handle)
            callback(*args)

        handle = loop.call_later(max(delay, 0.0), fire)
        self._handles.add(handle)

    def advance(self, seconds: float) -> int:
        """Manual mode: move time forward, running due timers in order. Returns how many ran."""
        if not self.manual:
            raise RuntimeError("advance() needs a manual clock")
        target = self._virtual + seconds
        ran = 0
        while self._timers and self._timers[0][0] <= target:
            due, _, callback, args = heapq.heappop(self._timers)
            self._virtual = max(self._virtual, due)
            callback(*args)
            ran += 1
        self._virtual = target
        return ran

    async def sleep(self, seconds: float) -> None:
        """Waits `seconds` of this clock's time: on a manual clock, until advance() gets there."""
        if not self.manual:
            await asyncio.sleep(seconds)
            return
        woken = asyncio.get_running_loop().create_future()
        self._sleeping.add(woken)
        self.call_later(seconds, self._wake, woken)
        try:
            await woken
        finally:
            self._sleeping.discard(woken)

    def _wake(self, woken: asyncio.Future[None]) -> None:
        self._sleeping.discard(woken)
        if not woken.done():
            woken.set_result(None)

    @property
    def sleepers(self) -> int:
        """Tasks waiting in sleep() right now (one woken by advance() counts no more)."""
        return len(self._sleeping)

    def pending(self) -> int:
        return len(self._timers) if self.manual else len(self._handles)

    def cancel_all(self) -> None:
        self._timers.clear()
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()
