"""A status watcher running in the background on the simulator's manual clock, for session and TUI tests.

The watcher sleeps on the simulator's clock, so it polls only when a test moves that clock
(`advance_until`), and what it sees, and when, is the same at every run, however busy the machine is."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from core.gateway import TwilioGateway
from core.watcher import StatusWatcher
from sim.clock import Clock
from sim.server import Simulator

TURNS = 10_000  # loop turns (of a millisecond's nap) a woken watcher gets to poll and sleep again


def sim_watcher(sim: Simulator) -> Callable[[TwilioGateway], StatusWatcher]:
    """What open_session(watcher=...) takes: a watcher on `sim`'s clock, for its pace and its times of day."""
    clock = sim.world.clock

    def wall() -> datetime:
        return datetime.fromtimestamp(clock.now(), UTC)

    return lambda gateway: StatusWatcher(gateway, clock=clock.now, sleep=clock.sleep, wall=wall)


async def advance_until(sim: Simulator, done: Callable[[], bool], *, step: float = 0.5, limit: float = 60.0,
                        watchers: int = 1, then: Callable[[], Awaitable[object]] | None = None) -> None:
    """Moves the simulator's clock by `step` at a time until `done()`. The clock moves only while all
    `watchers` sleep on it, so each has polled what the last step brought, and `then()` (a screen settling
    what they posted) has run, before `done()` is asked. Fails after `limit` simulated seconds."""
    clock = sim.world.clock
    moved = 0.0
    while True:
        await asleep(clock, watchers)
        if then is not None:
            await then()
        if done():
            return
        if moved >= limit:
            raise AssertionError(f"not done after {limit} simulated seconds")
        clock.advance(step)
        moved += step


async def asleep(clock: Clock, watchers: int) -> None:
    """Until `watchers` tasks sleep on `clock`: they polled what there was to poll and went back to sleep."""
    for _ in range(TURNS):
        if clock.sleepers >= watchers:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"{watchers - clock.sleepers} watcher(s) did not go back to sleep")
