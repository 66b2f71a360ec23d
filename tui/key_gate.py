"""Keys (and pastes) from the terminal handled one at a time, for the app (a mixin before textual's App).

Textual hands a key to the focused widget and goes on to the next at once, so in a burst (keys typed while the
app was busy) a Backspace ran after the letters typed behind it, or digits went to a field being hidden. Here the
next key is let in once the last one and what it set off (a field shown or hidden, a focus moved) have settled.
"""

from __future__ import annotations

import asyncio
from collections import deque

from textual import events
from textual.app import App

KEY_QUIET_TRIES = 50  # event loop turns a key may wait for the last one to settle


class OneKeyAtATime(App[None]):
    """Mixed into the app: on_event holds a key or paste while the last one is being handled."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._held_keys: deque[events.Key | events.Paste] = deque()  # what arrived while the last key was handled
        self._key_busy = False
        self._key_gate: asyncio.Task[None] | None = None

    async def on_event(self, event: events.Event) -> None:
        """Keys from the terminal one at a time: keys that arrive together land where they would have landed
        typed slowly."""
        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded:  # a paste waits its turn too
            if not getattr(event, "_released", False) and (self._key_busy or self._held_keys):
                self._held_keys.append(event)
                return
            self._key_busy = True
            await super().on_event(event)
            self._key_gate = asyncio.get_running_loop().create_task(self._next_key_when_quiet())
            return
        await super().on_event(event)

    async def _next_key_when_quiet(self) -> None:
        quiet = 0
        for _ in range(KEY_QUIET_TRIES):  # each a turn of the event loop; bounded, so a busy app still takes keys
            await asyncio.sleep(0)
            quiet = quiet + 1 if self._quiet() else 0
            if quiet >= 3:  # three turns in a row: what the key set off has run its course
                break
        if self._held_keys:
            key = self._held_keys.popleft()
            key._released = True  # type: ignore[attr-defined]
            self.post_message(key)
        else:
            self._key_busy = False

    def _quiet(self) -> bool:
        """No message waiting anywhere on the screen (the app's own queue aside: it may hold the next key)."""
        return all(node._message_queue.empty() and node._pending_message is None
                   for node in self.screen.walk_children(with_self=True))
