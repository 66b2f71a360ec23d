"""What the simulator pushes, as Twilio does: TaskRouter event callbacks to the workspace's EventCallbackUrl,
form-encoded and signed with X-Twilio-Signature (HMAC-SHA1 of the URL and the sorted parameters, keyed with the
account's auth token, base64), each carrying its event's own Sid (EV…) so that a receiver can drop a duplicate.

Knobs (tests, and `POST /_sim/callbacks`), each for the next N deliveries, together on the same ones when set
together: `drop` (never sent), `duplicate` (sent twice), `reorder` (held and sent after the next one that is
not); `delay` (seconds before every delivery).

    world.callbacks.emit(url, params)     # from the TaskRouter domain, when an event happens
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp

if TYPE_CHECKING:
    from sim.world import World

log = logging.getLogger("sim.callbacks")


def signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's X-Twilio-Signature for a form POST to `url` with `params`."""
    payload = url + "".join(key + params[key] for key in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


@dataclass
class CallbackKnobs:
    drop: int = 0
    duplicate: int = 0
    reorder: int = 0
    delay: float = 0.0


@dataclass
class Callbacks:
    """Deliveries of the world's callbacks: in the order they happen, unless a knob says otherwise."""

    world: World
    knobs: CallbackKnobs = field(default_factory=CallbackKnobs)
    delivered: list[dict[str, str]] = field(default_factory=list)  # what was sent (each copy), for tests
    _held: list[tuple[str, dict[str, str], int]] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def emit(self, url: str, params: dict[str, str]) -> None:
        knobs = self.knobs
        if knobs.drop:
            knobs.drop -= 1
            return
        copies = 1
        if knobs.duplicate:
            knobs.duplicate -= 1
            copies = 2
        if knobs.reorder:  # this one waits for the next
            knobs.reorder -= 1
            self._held.append((url, params, copies))
            return
        for held_url, held_params, held_copies in [(url, params, copies), *self._held]:
            for _ in range(held_copies):
                self._deliver(held_url, held_params)
        self._held.clear()

    def _deliver(self, url: str, params: dict[str, str]) -> None:
        try:
            task = asyncio.get_running_loop().create_task(self._post(url, params))
        except RuntimeError:  # no loop: the world is being used without its server
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, url: str, params: dict[str, str]) -> None:
        if self.knobs.delay:
            await asyncio.sleep(self.knobs.delay)
        self.delivered.append(params)
        token = self.world.auth_token()
        headers = {"X-Twilio-Signature": signature(token, url, params)} if token else {}
        try:
            async with aiohttp.ClientSession() as session, session.post(
                    url, data=params, headers=headers, timeout=aiohttp.ClientTimeout(total=15)) as answer:
                await answer.read()
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as error:  # Twilio does not retry these either
            log.info("callback to %s failed: %s", url, error)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
