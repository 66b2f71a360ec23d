"""A status watcher running in the background on the simulator's manual clock, for session and TUI tests.

The watcher's loop naps a millisecond of real time between ticks; time only moves when a test moves the
simulator's clock (`advance_until`), so what the watcher sees, and when, is the same at every run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from core.gateway import TwilioGateway
from core.watcher import StatusWatcher
from sim.server import Simulator

REAL_NAP = 0.001  # seconds of real time the watcher's loop yields between ticks


def sim_watcher(sim: Simulator) -> Callable[[TwilioGateway], StatusWatcher]:
    """What open_session(watcher=...) takes: a watcher on `sim`'s clock, for its pace and its times of day."""
    clock = sim.world.clock

    async def nap(_: float) -> None:
        await asyncio.sleep(REAL_NAP)

    def wall() -> datetime:
        return datetime.fromtimestamp(clock.now(), UTC)

    return lambda gateway: StatusWatcher(gateway, clock=clock.now, sleep=nap, wall=wall)


async def advance_until(sim: Simulator, done: Callable[[], bool], *, step: float = 0.5, limit: float = 60.0,
                        polls_per_step: int = 20) -> None:
    """Moves the simulator's clock by `step` at a time, giving the watcher real time to poll in between,
    until `done()`; fails after `limit` simulated seconds."""
    moved = 0.0
    while True:
        for _ in range(polls_per_step):
            if done():
                return
            await asyncio.sleep(REAL_NAP * 5)
        if moved >= limit:
            raise AssertionError(f"not done after {limit} simulated seconds")
        sim.world.clock.advance(step)
        moved += step
