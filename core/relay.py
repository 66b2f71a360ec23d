"""The relay: Twilio pushes, terminals subscribe (issue 16). It receives TaskRouter event callbacks and Conversations
post-event webhooks over HTTP, refuses any request whose X-Twilio-Signature does not validate against the public URL
Twilio was given (403), turns each into one small JSON event, and publishes it on NATS JetStream, answering Twilio
only once the stream has stored it. JetStream drops an event it already has (its id: TaskRouter's event Sid, or
Twilio's idempotency token) within DEDUPE_WINDOW, and keeps events for replay as long.

Subjects: `outbound.worker.<WK…>` (what happens to a worker's reservations and tasks: an agent's own),
`outbound.task.<WT…>` (a task no worker holds), `outbound.conversation.<CH…>` (messages, delivery, state).

    relay = Relay(public_url="https://relay.example.com", auth_token=token, jetstream=js)
    await relay.prepare()          # the stream, made or checked
    app = relay.app()              # aiohttp: POST /taskrouter, POST /conversations
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web
from twilio.request_validator import RequestValidator

log = logging.getLogger("outbound_panel.relay")

STREAM = "OUTBOUND"
DEDUPE_WINDOW = 24 * 3600.0  # seconds: an event seen again within this is dropped, and events are kept as long


@dataclass(frozen=True)
class RelayEvent:
    """One thing Twilio said happened, as terminals read it."""

    id: str  # unique per event: a duplicate delivery has the same
    type: str  # Twilio's EventType: task.created, reservation.accepted, onMessageAdded, onDeliveryUpdated, …
    subject: str
    conversation_sid: str | None = None
    task_sid: str | None = None
    worker_sid: str | None = None
    reservation_sid: str | None = None
    message_sid: str | None = None
    status: str | None = None  # the task's, the reservation's, the delivery's, or the conversation's new state
    body: str | None = None
    author: str | None = None
    error_code: str | None = None
    at: str | None = None

    def json(self) -> bytes:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}).encode()


def taskrouter_event(params: dict[str, str]) -> RelayEvent:
    """A TaskRouter event callback's form, normalized."""
    try:
        attributes = json.loads(params.get("TaskAttributes") or "{}")
    except ValueError:
        attributes = {}
    worker, task = params.get("WorkerSid"), params.get("TaskSid")
    reservation = params.get("ResourceType") == "reservation"
    return RelayEvent(
        id=params.get("Sid") or _digest(params), type=params.get("EventType", ""),
        subject=f"outbound.worker.{worker}" if worker else f"outbound.task.{task}",
        conversation_sid=attributes.get("conversationSid") if isinstance(attributes, dict) else None,
        task_sid=task, worker_sid=worker, reservation_sid=params.get("ReservationSid"),
        status=params.get("ReservationStatus") if reservation else params.get("TaskAssignmentStatus"),
        at=params.get("Timestamp"))


def conversations_event(params: dict[str, str], token: str | None) -> RelayEvent:
    """A Conversations post-event webhook's form, normalized; `token`: Twilio's I-Twilio-Idempotency-Token."""
    conversation = params.get("ConversationSid")
    return RelayEvent(
        id=token or _digest(params), type=params.get("EventType", ""), subject=f"outbound.conversation.{conversation}",
        conversation_sid=conversation, message_sid=params.get("MessageSid"),
        status=params.get("Status") or params.get("StateTo"), body=params.get("Body"), author=params.get("Author"),
        error_code=params.get("ErrorCode"), at=params.get("DateUpdated") or params.get("DateCreated"))


def _digest(params: dict[str, str]) -> str:
    """An id for a delivery that carries none: the same form, the same id (a retry is a duplicate)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


class Relay:
    def __init__(self, public_url: str, auth_token: str, jetstream: Any) -> None:
        self.public_url = public_url.rstrip("/")
        self.validator = RequestValidator(auth_token)
        self.jetstream = jetstream
        self.published = 0
        self.refused = 0

    async def prepare(self) -> None:
        """The stream: every outbound.> subject, duplicates dropped and events kept for DEDUPE_WINDOW."""
        from nats.js.api import StreamConfig

        config = StreamConfig(name=STREAM, subjects=["outbound.>"], duplicate_window=DEDUPE_WINDOW,
                              max_age=DEDUPE_WINDOW)
        try:
            await self.jetstream.add_stream(config)
        except Exception:  # already there (another relay made it): the same configuration
            await self.jetstream.update_stream(config)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/taskrouter", self._taskrouter)
        app.router.add_post("/conversations", self._conversations)
        return app

    async def _taskrouter(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        return await self._publish(taskrouter_event(params))

    async def _conversations(self, request: web.Request) -> web.Response:
        params = await self._signed(request)
        return await self._publish(conversations_event(params, request.headers.get("I-Twilio-Idempotency-Token")))

    async def _signed(self, request: web.Request) -> dict[str, str]:
        """The form of a request Twilio signed for this relay's public URL; 403 for anything else."""
        params = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        url = self.public_url + request.path_qs
        if not self.validator.validate(url, params, request.headers.get("X-Twilio-Signature", "")):
            self.refused += 1
            log.warning("refused a request to %s: its signature does not validate", request.path)
            raise web.HTTPForbidden(text="signature does not validate")
        return params

    async def _publish(self, event: RelayEvent) -> web.Response:
        ack = await self.jetstream.publish(event.subject, event.json(), headers={"Nats-Msg-Id": event.id})
        if not ack.duplicate:
            self.published += 1
        return web.Response(status=200)  # only now: JetStream has stored it (or had it already)
