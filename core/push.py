"""The terminal's side of the relay (issue 16): its agent's events, read from NATS JetStream and applied through the
one status watcher; polling whenever the relay or NATS is not there.

    push = Push(watcher, settings.relay, identity)
    async with push:     # connects and subscribes, and keeps at it (with back-off) until stopped
        push.live        # True while the relay tells what changes; watcher.pushing follows it

An event does not carry the status itself to the screen: it tells the watcher what to read now (a conversation's
messages, a task by its SID). So an event delivered twice or out of order shows nothing twice and nothing wrong,
and quiet conversations cost no requests (the watcher reads each every `safety` seconds, in case).

Live means: NATS connected; this agent's consumer delivering (events, or its idle heartbeats every `heartbeat`
seconds); and a relay heard on outbound-heartbeat within SILENCE of its own period (any relay: each says its own).
Without the relay the watcher polls (set_push(False): a catch-up read at once). Without the consumer the connection
is made again, after one heartbeat, then two, four… up to BACK_OFF, and the consumer again from the stream sequence
after the last event applied: nothing missed, nothing applied twice (a stream made again, as the relays' heartbeat
says, is read from its start). When both are heard again, set_push(True): again a catch-up read, then reads only
when told; and when a relay says it could not store some events (Twilio got a 503), everything followed is read
once. A conversation the relay has not yet said anything of is polled as before: push is trusted for it once
an event for it came (the relay may not know it is the agent's: its first webhook lost, or sent before the relay).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

from core.relay import HEARTBEAT, STREAM, RelayEvent, agent_subject, inbox_prefix
from core.settings import HEARTBEATS, RelaySettings
from core.watcher import StatusWatcher

log = logging.getLogger("outbound_panel.push")

SILENCE = 3  # heartbeats missed before the relay (or the consumer) counts as gone
BACK_OFF = 10  # heartbeats between two attempts to reach NATS, at most (doubling from one)


class Push:
    def __init__(self, watcher: StatusWatcher, settings: RelaySettings, identity: str) -> None:
        assert settings.nats_url is not None
        self.watcher, self.settings, self.identity = watcher, settings, identity
        self.heartbeat = settings.heartbeat
        self.last_sequence = 0  # the stream sequence of the last event applied
        self.live: bool | None = None  # None until the first connect succeeds or fails (either is told)
        self.problem: str | None = None  # why status is polled, in words, while it is
        self.applied = 0  # events applied (for benches and tests)
        self._consumer_heard = float("-inf")
        self._relays: dict[str, tuple[float, float]] = {}  # relay instance -> (when last heard, its period)
        self._missed: dict[str, int] = {}  # relay instance -> events it said it could not store
        self._stream = ""  # when the stream was made, as the relays say: another means its sequence began again
        self._nats_said: str | None = None  # the last error NATS reported (a permissions violation says why)
        self._restart: str | None = None  # why the subscription is to be made again
        self._from_start = False  # the stream was made again: read it from its first event
        self._listeners: list[Callable[[RelayEvent], None]] = []
        self._live_listeners: list[Callable[[bool], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._subscribed = False

    def subscribe(self, callback: Callable[[RelayEvent], None]) -> None:
        """`callback(event)` for each of the agent's events, after the watcher has been told."""
        self._listeners.append(callback)

    def on_live(self, callback: Callable[[bool], None]) -> None:
        """`callback(live)` each time push begins (True) or falls back to polling (False)."""
        self._live_listeners.append(callback)

    async def __aenter__(self) -> Push:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="relay subscriber")
        return self

    async def __aexit__(self, *exc: object) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._set_live(False)

    # -- the loop ----------------------------------------------------------------------------------

    async def _run(self) -> None:
        back_off = self.heartbeat
        while True:
            self._subscribed = False
            try:
                await self._connected()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any failure: poll, and try again
                said = self._nats_said if isinstance(error, TimeoutError) or "no servers" in str(error) else None
                self.problem = f"{said or _said(error)}, at {self.settings.nats_url}"
                if "permissions violation" in (said or ""):
                    self.problem += f" (is {self.settings.nats_user} the NATS user made for {self.identity}?)"
                self._nats_said = None
                log.warning("relay: %s; status is polled until it is back", self.problem)
            self._set_live(False)
            if self._subscribed:  # it worked for a while: the next try comes soon
                back_off = self.heartbeat
            await asyncio.sleep(back_off)
            back_off = min(back_off * 2, BACK_OFF * self.heartbeat)

    async def _connected(self) -> None:
        self._restart = None
        from nats.aio.client import Client
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        password = self.settings.nats_password
        connection = Client()  # made here, so that a refused connect is closed too (nats.connect would leak it)
        try:
            await connection.connect(  # each server tried once (this loop tries again), never reconnecting by itself
                self.settings.nats_url.split(","), user=self.settings.nats_user,
                password=password.get_secret_value() if password else None, inbox_prefix=inbox_prefix(self.identity),
                allow_reconnect=False, max_reconnect_attempts=1, reconnect_time_wait=0,
                connect_timeout=max(self.heartbeat, 1.0), error_cb=self._nats_error, disconnected_cb=_nothing,
                closed_cb=_nothing)
            await connection.subscribe(HEARTBEAT, cb=self._on_heartbeat)
            inbox = connection.new_inbox()
            await connection.subscribe(inbox, cb=self._on_delivery)
            start = ({"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": self.last_sequence + 1}
                     if self.last_sequence else {"deliver_policy": DeliverPolicy.ALL if self._from_start
                                                 else DeliverPolicy.NEW})
            await connection.jetstream().add_consumer(STREAM, ConsumerConfig(
                name=uuid.uuid4().hex, filter_subject=agent_subject(self.identity), deliver_subject=inbox,
                ack_policy=AckPolicy.NONE, idle_heartbeat=self.heartbeat, inactive_threshold=SILENCE * self.heartbeat,
                mem_storage=True, num_replicas=1, **start), timeout=SILENCE * self.heartbeat)
            subscribed = self._consumer_heard = self._now()
            self._from_start = False
            self._subscribed = True
            while True:
                await asyncio.sleep(self.heartbeat / 2)
                if not connection.is_connected:
                    raise ConnectionError("the connection to NATS was lost")
                now = self._now()
                if now - self._consumer_heard > SILENCE * self.heartbeat:
                    raise ConnectionError("this agent's events stopped coming (NATS sent no heartbeat)")
                if self._restart:
                    raise ConnectionError(self._restart)
                heard = any(now - at <= SILENCE * every for at, every in self._relays.values())
                silence = SILENCE * max((every for _, every in self._relays.values()), default=self.heartbeat)
                if not heard and now - subscribed <= silence:
                    continue  # just subscribed: a relay's heartbeat may not have come yet
                if not heard:
                    self.problem = f"no relay heard for {silence:g} s"
                self._set_live(heard)
        finally:
            with contextlib.suppress(Exception):
                await connection.close()

    # -- what arrives ------------------------------------------------------------------------------

    async def _on_heartbeat(self, msg: Any) -> None:
        import json

        try:
            beat = json.loads(msg.data)
            every = min(max(float(beat["every"]), HEARTBEATS[0]), HEARTBEATS[1])
            relay, stream, missed = str(beat.get("relay", "")), str(beat.get("stream", "")), int(beat.get("missed", 0))
        except (ValueError, TypeError, KeyError, AttributeError):
            return
        self._relays[relay] = (self._now(), every)
        if missed > self._missed.get(relay, missed):  # events no one was told of: what is followed is read again
            log.info("relay: %s could not store %d events: reading everything followed again", relay,
                     missed - self._missed[relay])
            self.watcher.catch_up()
        self._missed[relay] = missed
        if stream and stream != self._stream:
            if self._stream:  # made again: its sequence began again, so does ours (all it holds is news)
                self.last_sequence, self._from_start = 0, True
                self._restart = "the relay's stream was made again"  # the consumer too, from its start
            self._stream = stream

    async def _nats_error(self, error: Exception) -> None:
        self._nats_said = _said(error)
        log.debug("nats: %s", self._nats_said)

    async def _on_delivery(self, msg: Any) -> None:
        self._consumer_heard = self._now()
        if msg.headers and msg.headers.get("Status"):  # the consumer's idle heartbeat
            return
        try:
            sequence = msg.metadata.sequence.stream
            event = RelayEvent.parse(msg.data)
        except Exception as error:
            log.warning("relay: an event that is not one was skipped: %s", error)
            return
        if sequence <= self.last_sequence:  # delivered again after the consumer was made again
            return
        self.last_sequence = sequence
        self.applied += 1
        is_task = event.type.startswith(("task.", "reservation."))
        self.watcher.pushed(event.conversation_sid, event.task_sid if is_task else None)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("a relay event subscriber failed")

    # -- pieces ------------------------------------------------------------------------------------

    def _set_live(self, live: bool) -> None:
        if live == self.live:
            return
        self.live = live
        if live:
            self.problem = None
        self.watcher.set_push(live)
        for listener in list(self._live_listeners):
            listener(live)

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()


def _said(error: BaseException) -> str:
    return str(error) or type(error).__name__


async def _nothing() -> None:
    return None
