"""Simulated colleagues: the seeded workers nobody sits at, who accept the tasks offered to them.

With `colleague_accept_delay` set, a worker whose friendly name is not one of `humans` (the people
at a terminal) accepts each reservation that many seconds after it is offered — through the same
code path as a REST accept, so Flex adds them to the conversation and the task becomes assigned.
A reservation no longer pending by then (rejected, timed out, canceled) is left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.taskrouter_models import Reservation
    from sim.world import World


class Colleagues:
    def __init__(self, world: World) -> None:
        self.world = world
        self.humans = {name.casefold() for name in world.config.humans}  # friendly names match case-blind
        world.taskrouter.reservation_offered.append(self._on_offered)

    def is_human(self, friendly_name: str) -> bool:
        return friendly_name.casefold() in self.humans

    def _on_offered(self, reservation: Reservation) -> None:
        delay = self.world.config.colleague_accept_delay
        if delay is None or self.is_human(reservation.worker.friendly_name):
            return
        self.world.clock.call_later(delay, self._accept, reservation.sid)

    def _accept(self, sid: str) -> None:
        taskrouter = self.world.taskrouter
        reservation = taskrouter.reservations.get(sid)  # gone if its task was deleted
        if reservation is None or reservation.status != "pending":
            return
        taskrouter.update_reservation(reservation, "accepted")
