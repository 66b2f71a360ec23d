"""The relay: Twilio pushes, terminals subscribe (issue 16). It receives TaskRouter event callbacks and Conversations
post-event webhooks over HTTP, refuses any request whose X-Twilio-Signature does not validate against the public URL
Twilio was given (403), turns each into one small JSON event, and publishes it on NATS JetStream, answering Twilio
only once the stream has stored it. JetStream drops an event it already has (its id: TaskRouter's event Sid, or a
digest of the signed form: Twilio's idempotency token is not signed) within DEDUPE_WINDOW, and keeps events for replay
as long; an event older than that cannot be told from a replay, and is refused. Events carry what terminals read
(SIDs, types, statuses), never a message's body or its author.

Subjects: every event is stored under its home, `outbound.conversation.<CH…>` (or `outbound.task.<WT…>` for a task
without a conversation, `outbound.worker.<WK…>` for a worker's own), and once more under `outbound.agent.<identity>`
(the Flex-encoded identity, core.identity) for each agent it concerns: the conversation's owners. An agent owns a
conversation once they write in it (onMessageAdded by their identity: every send's first message is) or are offered
one of its tasks (a reservation event names the worker); owners are kept in a JetStream key-value bucket that every
relay instance shares. A terminal reads only its agent's subject (`agent_permissions`: per-agent credentials).

Each relay instance also says it is alive on `outbound-heartbeat` (core NATS, outside the stream: not stored) every
`heartbeat` seconds, with the stream's creation time (a stream made again starts its sequence again) and how many
events it could not store (Twilio got a 503: the terminals it concerned were never told); a terminal that hears
none falls back to polling, and one that hears of a miss reads everything it follows once (core/push.py).

    relay = Relay(public_url="https://relay.example.com", auth_token=token, jetstream=js)
    await relay.prepare()          # the stream and the owners' bucket, made or checked
    app = relay.app()              # aiohttp: POST /taskrouter, POST /conversations
    await relay.beat(connection)   # the heartbeat, until cancelled
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, NoReturn

from aiohttp import web
from twilio.request_validator import RequestValidator

from core.identity import decode_identity, encode_identity

log = logging.getLogger("outbound_panel.relay")

STREAM = "OUTBOUND"
OWNERS = "OUTBOUND_OWNERS"  # key-value bucket: conversation SID -> the identities of its owners (JSON list)
HEARTBEAT = "outbound-heartbeat"
UNROUTED = "outbound.unrouted"  # the home of an event that names nothing known
_SID = re.compile(r"[A-Z]{2}[0-9a-f]{32}")
DEDUPE_WINDOW = 24 * 3600.0  # seconds: an event seen again within this is dropped, and events are kept as long
OWNERS_KEPT = 30 * 24 * 3600.0  # seconds a conversation's owners are kept after they last changed
STORE_WITHIN = 4.0  # seconds to store an event, retrying while JetStream elects a leader (Twilio waits 5 s)


def agent_subject(identity: str) -> str:
    """The subject of one agent's events: `outbound.agent.alice_40example_2Ecom` (a subject token is letters,
    digits and `_`: the Flex encoding of the identity)."""
    return f"outbound.agent.{encode_identity(identity)}"


def agent_permissions(identity: str) -> dict[str, Any]:
    """What a terminal's NATS user may do (nats-server `permissions`): make a consumer on its own agent's subject
    only, hear the relays' heartbeat, and get answers in an inbox of its own (`inbox_prefix`)."""
    token = encode_identity(identity)
    return {"publish": {"allow": [f"$JS.API.CONSUMER.CREATE.{STREAM}.*.outbound.agent.{token}"]},
            "subscribe": {"allow": [HEARTBEAT, f"{inbox_prefix(identity)}.>"]}}


def inbox_prefix(identity: str) -> str:
    return f"_INBOX_{encode_identity(identity)}"


def server_users(relay: tuple[str, str], agents: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """nats-server's `authorization.users`: the relay (user, password) may do anything; each agent (identity ->
    (user, password)) only what agent_permissions allows."""
    return [{"user": relay[0], "password": relay[1]}] + [
        {"user": user, "password": password, "permissions": agent_permissions(identity)}
        for identity, (user, password) in agents.items()]


@dataclass(frozen=True)
class RelayEvent:
    """One thing Twilio said happened, as terminals read it."""

    id: str  # unique per event: a duplicate delivery has the same
    type: str  # Twilio's EventType: task.created, reservation.accepted, onMessageAdded, onDeliveryUpdated, …
    subject: str  # its home subject
    conversation_sid: str | None = None
    task_sid: str | None = None
    worker_sid: str | None = None
    worker: str | None = None  # the worker's identity (its friendly name)
    reservation_sid: str | None = None
    message_sid: str | None = None
    status: str | None = None  # the task's, the reservation's, the delivery's, or the conversation's new state
    author: str | None = None  # who wrote a message: read here for its owner, never published
    error_code: str | None = None
    at: str | None = None

    def json(self) -> bytes:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None and k != "author"}).encode()

    @classmethod
    def parse(cls, data: bytes) -> RelayEvent:
        """An event as published; ValueError when it is not one."""
        try:
            fields = json.loads(data)
            return cls(**{k: v for k, v in fields.items() if k in cls.__dataclass_fields__})
        except (TypeError, AttributeError) as error:
            raise ValueError(f"not a relay event: {error}") from error

    @property
    def owner(self) -> str | None:
        """The agent (a worker's friendly name) this event makes an owner of its conversation: the author of a
        message who is not a customer (an address: +1…, whatsapp:+1…; Flex writes the identity encoded), the worker a
        task is offered to, or the worker of a worker event."""
        if self.type == "onMessageAdded" and self.author and not _an_address(self.author):
            return decode_identity(self.author)
        return self.worker if self.reservation_sid or self.type.startswith("worker.") else None


def _an_address(author: str) -> bool:
    return author.startswith("+") or ":" in author or author == "system"


def taskrouter_event(params: dict[str, str]) -> RelayEvent:
    """A TaskRouter event callback's form, normalized."""
    try:
        attributes = json.loads(params.get("TaskAttributes") or "{}")
    except ValueError:
        attributes = {}
    conversation = _sid(attributes.get("conversationSid") if isinstance(attributes, dict) else None, "CH")
    worker, task = _sid(params.get("WorkerSid"), "WK"), _sid(params.get("TaskSid"), "WT")
    reservation = params.get("ResourceType") == "reservation"
    home = (f"outbound.conversation.{conversation}" if conversation else f"outbound.task.{task}" if task
            else f"outbound.worker.{worker}" if worker else UNROUTED)
    return RelayEvent(
        id=_sid(params.get("Sid"), "EV") or _digest(params), type=params.get("EventType", ""), subject=home,
        conversation_sid=conversation, task_sid=task, worker_sid=worker,
        worker=params.get("WorkerName") or None, reservation_sid=_sid(params.get("ReservationSid"), "WR"),
        status=(params.get("ReservationStatus") if reservation else params.get("TaskAssignmentStatus")
                or params.get("WorkerActivityName")),
        at=params.get("Timestamp"))


def conversations_event(params: dict[str, str]) -> RelayEvent:
    """A Conversations post-event webhook's form, normalized. Its id is a digest of the form (Twilio's retry of it
    is the same form; its I-Twilio-Idempotency-Token header is not signed, so a replay could change it)."""
    conversation = _sid(params.get("ConversationSid"), "CH")
    return RelayEvent(
        id=_digest(params), type=params.get("EventType", ""),
        subject=f"outbound.conversation.{conversation}" if conversation else UNROUTED,
        conversation_sid=conversation, message_sid=_sid(params.get("MessageSid"), "IM"),
        status=params.get("Status") or params.get("StateTo"), author=params.get("Author"),
        error_code=params.get("ErrorCode"), at=params.get("DateUpdated") or params.get("DateCreated"))


def _sid(value: object, prefix: str) -> str | None:
    """A Twilio SID of this kind, else None: what the relay puts in a subject or a key is never anything else."""
    return value if isinstance(value, str) and value.startswith(prefix) and _SID.fullmatch(value) else None


def _digest(params: dict[str, str]) -> str:
    """An id for a delivery that carries none: the same form, the same id (a retry is a duplicate)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


def _age(at: str | None, now: float) -> float:
    """Seconds since `at` (epoch seconds, as TaskRouter says it, or ISO 8601, as Conversations does); 0 unknown."""
    if not at:
        return 0.0
    try:
        when = float(at) if at.replace(".", "", 1).isdigit() else datetime.fromisoformat(at).timestamp()
    except ValueError:
        return 0.0
    return now - when


class Relay:
    def __init__(self, public_url: str, auth_token: str, jetstream: Any, *, replicas: int = 1,
                 heartbeat: float = 2.0, wall: Any = time.time) -> None:
        self.public_url = public_url.rstrip("/")
        self.validator = RequestValidator(auth_token)
        self.jetstream = jetstream
        self.replicas, self.heartbeat, self.wall = replicas, heartbeat, wall
        self.owners: Any = None  # the key-value bucket, once prepared
        self.stream_made = ""  # when the stream was made (it names the stream's sequence to terminals)
        self._remaking = asyncio.Lock()
        self._made_at = float("-inf")  # monotonic time the stream was last made or checked
        self.published = 0  # events stored (not counting duplicates), each once however many agents it reached
        self.refused = 0
        self.missed = 0  # events Twilio was told could not be stored (503): terminals read everything when it grows

    async def prepare(self) -> None:
        """The stream (every outbound.> subject, duplicates dropped and events kept for DEDUPE_WINDOW) and the owners'
        bucket, made or, when another relay made them, used as they are."""
        from nats.js.api import KeyValueConfig, StreamConfig

        config = StreamConfig(name=STREAM, subjects=["outbound.>"], duplicate_window=DEDUPE_WINDOW,
                              max_age=DEDUPE_WINDOW, num_replicas=self.replicas)
        try:
            info = await self.jetstream.add_stream(config)
        except Exception:  # already there (another relay made it): the same configuration
            info = await self.jetstream.update_stream(config)
        self.stream_made, self._made_at = str(info.created), time.monotonic()
        self.owners = await self.jetstream.create_key_value(
            KeyValueConfig(bucket=OWNERS, ttl=OWNERS_KEPT, replicas=self.replicas))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/taskrouter", self._taskrouter)
        app.router.add_post("/conversations", self._conversations)
        return app

    async def beat(self, connection: Any, instance: str = "") -> None:
        """HEARTBEAT every `heartbeat` seconds until cancelled: {"every": seconds, "relay": instance, "stream": when
        the stream was made}."""
        while True:
            beat = {"every": self.heartbeat, "relay": instance, "stream": self.stream_made, "missed": self.missed}
            try:
                await connection.publish(HEARTBEAT, json.dumps(beat).encode())
            except Exception as error:  # NATS away: terminals poll meanwhile; the beat goes on when it is back
                log.warning("relay: no heartbeat sent: %s", str(error) or type(error).__name__)
            await asyncio.sleep(self.heartbeat)

    async def _taskrouter(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        return await self._publish(taskrouter_event(params))

    async def _conversations(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        return await self._publish(conversations_event(params))

    async def _signed(self, request: web.Request) -> dict[str, str]:
        """The form of a request Twilio signed for this relay's public URL; 403 for anything else."""
        try:
            params = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        except (UnicodeDecodeError, ValueError):
            self._refuse(request.path, "it is not a form Twilio would send", web.HTTPBadRequest)
        url = self.public_url + request.path_qs
        if not self.validator.validate(url, params, request.headers.get("X-Twilio-Signature", "")):
            self._refuse(request.path, "its signature does not validate")
        return params

    def _refuse(self, what: str, why: str, answer: type[web.HTTPException] = web.HTTPForbidden) -> NoReturn:
        self.refused += 1
        log.warning("refused %s: %s", what, why)
        raise answer(text=why)

    async def _publish(self, event: RelayEvent) -> web.Response:
        if _age(event.at, self.wall()) > DEDUPE_WINDOW:
            self._refuse(f"event {event.id}", f"older than {DEDUPE_WINDOW // 3600:.0f} h, it cannot be told from a "
                         "replay")
        try:
            async with asyncio.timeout(STORE_WITHIN):
                owners, _ = await self._retrying(lambda: self._owners(event))
                acks = await asyncio.gather(*(self._retrying(lambda subject=subject, id=id: self.jetstream.publish(
                    subject, event.json(), timeout=1.0, headers={"Nats-Msg-Id": id})) for subject, id in
                    [(event.subject, event.id), *((agent_subject(o), f"{event.id}.{o}") for o in owners)]))
        except TimeoutError:
            self.missed += 1
            log.warning("relay: event %s (%s) could not be stored within %g s: Twilio is told 503", event.id,
                        event.type, STORE_WITHIN)
            raise web.HTTPServiceUnavailable(text="the event could not be stored") from None
        home, retried = acks[0]
        if not home.duplicate or retried:  # a duplicate of an attempt of our own that had no answer is ours
            self.published += 1
        return web.Response(status=200)  # only now: JetStream has stored it (or had it already)

    async def _retrying(self, call: Any) -> tuple[Any, bool]:
        """`call()` again while JetStream cannot answer (no leader for a moment, a server gone): a duplicate publish is
        dropped by its id, so trying again is safe; within the caller's STORE_WITHIN, else Twilio gets a 503.
        Returns what it answered, and whether it was tried more than once."""
        from nats.errors import NoRespondersError, TimeoutError as NatsTimeout
        from nats.js.errors import NoStreamResponseError, ServiceUnavailableError

        retried = False
        while True:
            try:
                return await call(), retried
            except (NoRespondersError, NoStreamResponseError, NatsTimeout, ServiceUnavailableError) as error:
                log.info("relay: JetStream did not store an event yet (%s): trying again", type(error).__name__)
                retried = True
                await asyncio.sleep(0.1)
                if isinstance(error, NoStreamResponseError):  # no stream takes the subject: lost, or deleted
                    await self._remake()

    async def _remake(self) -> None:
        """The stream and the owners' bucket made again (at most one request does it; the others wait for it)."""
        if self._remaking.locked():
            async with self._remaking:
                return
        async with self._remaking:
            if time.monotonic() - self._made_at < 1.0:  # a publish sent before it was made again: just retry
                return
            from nats.js.errors import NotFoundError

            try:
                async with asyncio.timeout(1.0):
                    await self.jetstream.stream_info(STREAM)
                return  # it is there: a leader being elected, not a stream lost
            except NotFoundError:
                log.warning("relay: the stream %s is gone: making it again", STREAM)
            except Exception:  # no answer: NATS may still be away; the next try asks again
                return
            with contextlib.suppress(Exception):
                await self.prepare()

    async def _owners(self, event: RelayEvent) -> list[str]:
        """The agents this event concerns: its conversation's owners, with the one it adds."""
        from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

        new = event.owner
        if not event.conversation_sid:
            return [new] if new else []
        for _ in range(10):  # another relay may add an owner at the same moment: read again and retry
            try:
                entry = await self.owners.get(event.conversation_sid)
                owners, revision = json.loads(entry.value or b"[]"), entry.revision
            except KeyNotFoundError:
                owners, revision = [], None
            if new is None or new in owners:
                return owners
            try:
                value = json.dumps([*owners, new]).encode()
                if revision is None:
                    await self.owners.create(event.conversation_sid, value)
                else:
                    await self.owners.update(event.conversation_sid, value, last=revision)
                return [*owners, new]
            except (KeyWrongLastSequenceError, KeyNotFoundError):  # another relay wrote first (nats-py reads the
                continue  # entry again after a lost create, and a lagging copy may not have it yet): read and retry
        raise RuntimeError(f"the owners of {event.conversation_sid} kept changing")
