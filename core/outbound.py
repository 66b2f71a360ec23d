"""OutboundService.send: the three modes in at most two sequential Twilio round trips.

open_chat:  1. Flex Interaction with the customer as participant → conversation + task routed to me
            2. the message
wait_me/any 1. ConversationWithParticipants (customer + routing attributes, flag always written)
            2. the Studio webhook (the reply route) and the message, concurrently
An existing open conversation is found through Twilio's own duplicate-binding error (50416/50425),
so the happy path pays nothing for the check. A create left without an answer (timeout, reset, lost
response) is looked up before it counts as failed: what Twilio made anyway is used, not left behind,
and nothing is posted twice. Reads are retried, a 429 is waited out, all within one deadline per send
(core/retry.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from core import retry
from core.actions import SEND_OUTBOUND_MESSAGE, ActionBus, SendOutboundMessagePayload
from core.errors import ConversationInUse, OutboundError, SendFailed, TwilioError, TwilioUnavailable
from core.gateway import TwilioGateway
from core.models import SendMode, SendRequest, SendResult, prepare_send
from core.phone import display
from core.rules import check_payload
from core.twilio_errors import BindingTaken
from core.views import AgentInfo, CreatedInteraction, LiveTask

if TYPE_CHECKING:
    from core.customer import CustomerStatus
    from core.templates import ContentTemplate

log = logging.getLogger("outbound_panel.outbound")

T = TypeVar("T")
Undo = Callable[[], Awaitable[None]]  # removes what a send made when its message did not go out


class Journal(Protocol):
    """core.journal.SendJournal, as the service uses it (that module imports this one)."""

    def begin(self, request: SendRequest) -> None: ...

    def end(self, request: SendRequest) -> None: ...

    def unknown(self, request: SendRequest) -> None: ...


class OutboundService:
    """Sends outbound messages for one agent."""

    def __init__(self, gateway: TwilioGateway, agent: AgentInfo) -> None:
        self.gateway = gateway
        self.agent = agent
        self.flex = gateway.settings.flex
        self.journal: Journal | None = None  # set by the session: sends in flight survive a crash
        # what the session last read of customers (by address and sender) and templates (by SID): the rules use it
        self.customers: dict[tuple[str, str], CustomerStatus] = {}
        self.templates: dict[str, ContentTemplate] = {}
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.unknown_since: dict[str, float] = {}  # send id -> when (loop time) a request of it was given up on

    def register_actions(self, bus: ActionBus) -> None:
        """SendOutboundMessage sends through this service, so the TUI and scripts share one path."""
        bus.register(SEND_OUTBOUND_MESSAGE, SendOutboundMessagePayload, self.send_payload)

    async def send_payload(self, payload: SendOutboundMessagePayload) -> SendResult:
        """The action's payload, checked by core.rules with what is known of the customer and the template
        (InvalidSend before any Twilio call), then sent."""
        settings = self.gateway.settings
        request = prepare_send(
            channel=payload.channel, destination=payload.destination, sender=payload.caller_id,
            mode=payload.mode, senders=settings.senders, body=payload.body,
            content_sid=payload.content_template_sid, content_variables=payload.content_variables,
            region=settings.ui.phone_region,
        )
        refused = check_payload(settings, payload, customer=self.customers.get((request.address, request.proxy_address)),
                                template=self.templates.get(request.content_sid or ""), now=self.now())
        if refused is not None:
            raise refused
        return await self.send(request)

    async def send(self, request: SendRequest) -> SendResult:
        if self.journal is not None:
            self.journal.begin(request)
        known = True
        try:
            with retry.send_deadline():
                try:
                    if request.mode is SendMode.OPEN_CHAT:
                        return await self._open_chat(request)
                    return await self._send_and_wait(request)
                except BindingTaken as taken:
                    return await self._send_on_existing(request, taken.conversation_sid)
        except SendFailed as failed:
            known, failed.send_id = failed.checked, request.send_id
            if isinstance(failed.cause, TwilioUnavailable) and failed.cause.timed_out:
                self.unknown_since[request.send_id] = retry.now()  # Twilio may still be working on it
            raise
        except TwilioError as error:  # stopped before the message: say so (SendFailed already says which)
            raise SendFailed(f"{error} Nothing reached the customer.", reached_customer=False,
                             cause=error) from error
        finally:  # a kill -9 skips this: the journal keeps the send for the next start
            if self.journal is not None:
                if known:
                    self.journal.end(request)
                else:  # kept until a look-up settles it (core.journal.recover)
                    self.journal.unknown(request)

    def _window(self, error: OutboundError) -> float:
        return retry.settle_window(error, self.gateway.deadline) if isinstance(error, TwilioError) else 0.0

    # -- new conversation --------------------------------------------------------------------------

    async def _open_chat(self, request: SendRequest) -> SendResult:
        try:
            created = await retry.create(lambda: self.gateway.create_interaction(
                {"type": request.channel.value, "initiated_by": "agent",
                 "participants": [{"address": request.address, "proxy_address": request.proxy_address}]},
                self._routing(request),
            ))
        except TwilioUnavailable as error:
            # No answer does not mean nothing was made: Flex may hold the conversation and my task already.
            made = await self._look(lambda: self._interaction_made_anyway(request), error)
            if made is None:
                raise
            created = made
        message_sid = await self._message_or_undo(request, created.conversation_sid,
                                                  undo=lambda: self.gateway.close_interaction(created))
        return self._chat_result(request, created, message_sid, reused=False)

    async def _send_and_wait(self, request: SendRequest) -> SendResult:
        try:
            conversation_sid = await retry.create(lambda: self.gateway.create_conversation(
                request.address, request.proxy_address, self.conversation_attributes(request)
            ))
        except TwilioUnavailable as error:
            # No answer does not mean nothing was made: a conversation now holding the pair is sent to as an
            # existing one (routing rewritten, reply route added when missing), never left behind as an orphan.
            found = await self._look(lambda: self._find_conversation(request), error)
            if found is None:
                raise
            made_here = not await retry.read(lambda: self.gateway.message_sids(found))  # empty: this send's own
            return await self._send_on_existing(request, found, made_here=made_here)
        route, message = await asyncio.gather(
            retry.create(lambda: self.gateway.add_studio_webhook(conversation_sid)),
            self._message_or_undo(request, conversation_sid,
                                  undo=lambda: self.gateway.delete_conversation(conversation_sid)),
            return_exceptions=True,
        )
        if isinstance(message, BaseException):
            raise message
        if isinstance(route, BaseException):
            await self._repair_route(conversation_sid, route)
        return SendResult(request=request, conversation_sid=conversation_sid, message_sid=message)

    async def _look(self, look: Callable[[], Awaitable[T | None]], error: TwilioUnavailable) -> T | None:
        """What an unanswered create made, looked for within its window. When the look-ups fail too, what
        Twilio made is unknown: the send stays in the journal for a later look-up, and the agent is told."""
        try:
            made = await retry.settle(look, self._window(error))
        except OutboundError as lookup:
            raise SendFailed(f"{error} It could not be checked what Twilio made ({str(lookup).rstrip('.')}). The "
                             "message was not posted; a conversation Twilio may have opened with the customer is "
                             "checked at the next send (and at the next start), and removed if empty.",
                             reached_customer=False, checked=False, cause=error) from error
        if made is None and error.timed_out:  # given up on: Twilio may make it later still
            raise SendFailed(f"{error} Nothing was made yet when looked for, but Twilio may still make it. The message "
                             "was not posted; a conversation Twilio opens later is removed at the next look-up.",
                             reached_customer=False, checked=False, cause=error)
        return made

    async def _find_conversation(self, request: SendRequest) -> str | None:
        return await retry.read(lambda: self.gateway.find_conversation(request.address, request.proxy_address))

    async def _interaction_made_anyway(self, request: SendRequest) -> CreatedInteraction | None:
        """The chat an unanswered Interactions create made: the pair's conversation, still without a message,
        with a live outbound task of an interaction that is not someone else's. None when nothing was made."""
        conversation_sid = await self._find_conversation(request)
        if conversation_sid is None:
            return None
        if await retry.read(lambda: self.gateway.message_sids(conversation_sid)):
            return None  # a conversation in use before this send: not the one it made
        return await self._my_chat(conversation_sid)

    async def _my_chat(self, conversation_sid: str) -> CreatedInteraction | None:
        """The conversation's live outbound chat task of an interaction that is not someone else's, if any."""
        for task in await retry.read(lambda: self.gateway.live_tasks(conversation_sid)):
            interaction_sid = task.attributes.get("flexInteractionSid")
            channel_sid = task.attributes.get("flexInteractionChannelSid")
            if (task.attributes.get("direction") == "outbound" and interaction_sid and channel_sid
                    and await retry.read(lambda: self.gateway.task_worker_sid(task.sid)) in (None, self.agent.sid)):
                return CreatedInteraction(interaction_sid=interaction_sid, channel_sid=channel_sid,
                                          conversation_sid=conversation_sid, task_sid=task.sid)
        return None

    # -- existing conversation ---------------------------------------------------------------------

    async def _send_on_existing(self, request: SendRequest, conversation_sid: str | None,
                                made_here: bool = False) -> SendResult:
        if conversation_sid is None:  # Twilio said the pair is taken but not where: look it up
            conversation_sid = await self._find_conversation(request)
            if conversation_sid is None:
                raise TwilioError(f"Twilio reports an open conversation with {display(request.destination)} "
                                  "from this sender but it cannot be found; try again in a moment.")
        tasks, has_route = await asyncio.gather(retry.read(lambda: self.gateway.live_tasks(conversation_sid)),
                                                retry.read(lambda: self.gateway.has_studio_webhook(conversation_sid)))
        task = tasks[0] if tasks else None
        holder = await self._holder(conversation_sid, task) if task else None
        if task is not None and request.mode is SendMode.OPEN_CHAT:
            raise ConversationInUse(display(request.destination), task.attributes.get("direction", "inbound"), holder)
        if request.mode is SendMode.OPEN_CHAT:
            created = await self._attach_chat(request, conversation_sid)
            # The conversation was there before this send: undo only the task, keep the conversation.
            message_sid = await self._message_or_undo(request, conversation_sid,
                                                      undo=lambda: self.gateway.cancel_task(created.task_sid))
            return self._chat_result(request, created, message_sid, reused=True)
        # Wait modes: rewrite the routing explicitly (never leave an earlier send's flag behind) and make
        # sure a reply has a route: the live task when there is one, else the Studio webhook.
        steps: list[Any] = [self._set_routing(conversation_sid, self.conversation_attributes(request))]
        if task is None and not has_route:
            steps.append(self._add_route(conversation_sid))
        await asyncio.gather(*steps)
        sid = conversation_sid  # an empty conversation this send made is removed if its message fails
        undo = (lambda: self.gateway.delete_conversation(sid)) if made_here else None
        message_sid = await self._message_or_undo(request, conversation_sid, undo=undo)
        return SendResult(request=request, conversation_sid=conversation_sid, message_sid=message_sid,
                          reused=True, task_sid=task.sid if task else None, holder=holder)

    async def _attach_chat(self, request: SendRequest, conversation_sid: str) -> CreatedInteraction:
        """A chat task for me on the existing conversation (which has no live task)."""
        try:
            return await retry.create(lambda: self.gateway.create_interaction(
                {"type": request.channel.value, "initiated_by": "agent",
                 "properties": {"media_channel_sid": conversation_sid}},
                self._routing(request),
            ))
        except TwilioUnavailable as error:
            # No answer: the task Flex may have made anyway is used, never a second one asked for.
            if made := await self._look(lambda: self._my_chat(conversation_sid), error):
                return made
            raise

    async def _set_routing(self, conversation_sid: str, attributes: dict[str, Any]) -> None:
        try:
            await retry.create(lambda: self.gateway.set_attributes(conversation_sid, attributes))
        except TwilioUnavailable:
            # The same update landing twice is harmless, but look first: write again only when it did not land.
            current = await retry.read(lambda: self.gateway.conversation_attributes(conversation_sid))
            if any(current.get(key) != value for key, value in attributes.items()):
                await self.gateway.set_attributes(conversation_sid, attributes)

    async def _add_route(self, conversation_sid: str) -> None:
        """The Studio webhook, once: after an unanswered create it is looked for before it is added again."""
        try:
            await retry.create(lambda: self.gateway.add_studio_webhook(conversation_sid))
        except TwilioUnavailable as error:
            await self._route_after(conversation_sid, error)

    async def _route_after(self, conversation_sid: str, error: OutboundError) -> None:
        if isinstance(error, TwilioUnavailable):
            async def has_route() -> bool | None:
                return await retry.read(lambda: self.gateway.has_studio_webhook(conversation_sid)) or None

            if await retry.settle(has_route, self._window(error)):
                return
        await retry.create(lambda: self.gateway.add_studio_webhook(conversation_sid))

    async def _holder(self, conversation_sid: str, task: LiveTask) -> str | None:
        """Who holds the live task ("you" for this agent): the agent in the conversation, else the worker
        reserved for the task."""
        identities = await retry.read(lambda: self.gateway.agent_identities(conversation_sid))
        if identities:
            if identities[0] == self.agent.friendly_name:
                return "you"
            name = await retry.read(lambda: self.gateway.worker_name(friendly_name=identities[0]))
            return name or identities[0]
        worker_sid = await retry.read(lambda: self.gateway.task_worker_sid(task.sid))
        if worker_sid == self.agent.sid:
            return "you"
        return await retry.read(lambda: self.gateway.worker_name(sid=worker_sid)) if worker_sid else None

    # -- pieces ------------------------------------------------------------------------------------

    def conversation_attributes(self, request: SendRequest) -> dict[str, Any]:
        """What the Studio flow copies into the reply's task (see README, Connecting to Flex)."""
        return {
            "KnownAgentRoutingFlag": request.mode is SendMode.WAIT_ME,
            "KnownAgentWorkerSid": self.agent.sid if request.mode is SendMode.WAIT_ME else "",
            **self._task_attributes(request),
        }

    def _task_attributes(self, request: SendRequest) -> dict[str, Any]:
        return {
            "from": request.address,
            "direction": "outbound",
            "customerName": request.customer_label,
            "customerAddress": request.address,
            "twilioNumber": request.proxy_address,
            "channelType": request.channel.value,
        }

    def _routing(self, request: SendRequest) -> dict[str, Any]:
        return {
            "workspace_sid": self.flex.workspace_sid,
            "workflow_sid": self.flex.workflow_sid,
            "queue_sid": self.flex.queue_sid,
            "worker_sid": self.agent.sid,
            "task_channel_unique_name": self.flex.task_channel,
            "attributes": self._task_attributes(request),
        }

    def _chat_result(self, request: SendRequest, created: CreatedInteraction, message_sid: str,
                     reused: bool) -> SendResult:
        return SendResult(request=request, conversation_sid=created.conversation_sid, message_sid=message_sid,
                          reused=reused, interaction_sid=created.interaction_sid, task_sid=created.task_sid)

    async def _message_or_undo(self, request: SendRequest, conversation_sid: str, undo: Undo | None) -> str:
        """The message, posted once; if it did not reach the customer, what this send made is undone (`undo`)
        so it blocks no one."""
        send_id = request.send_id  # marks the message so an unanswered post can be found, never re-posted
        try:
            return await retry.create(lambda: self.gateway.send_message(
                conversation_sid, self.agent.identity, request.body, request.content_sid,
                request.content_variables, send_id))
        except OutboundError as error:
            if isinstance(error, TwilioUnavailable):  # no answer does not mean not sent: look before deciding
                try:
                    landed = await retry.settle(
                        lambda: retry.read(lambda: self.gateway.find_message(conversation_sid, send_id)),
                        self._window(error))
                except OutboundError as lookup:  # nothing undone: the message may be there
                    raise SendFailed(f"The message may have reached the customer: {error} It could not be checked "
                                     f"({str(lookup).rstrip('.')}); the app checks again at the next send (and at "
                                     "the next start).",
                                     reached_customer=None, cause=error) from error
                if landed:
                    return landed
                if error.timed_out:  # given up on, not there yet: it may land still, so nothing is undone
                    raise SendFailed(f"The message may still reach the customer: {error} It was not there yet when "
                                     "looked for; the app checks again at the next send (and at the next start).",
                                     reached_customer=None, cause=error) from error
            if undo is not None:
                await self._undo(undo, conversation_sid)
            raise SendFailed(f"The message was not sent: {error} Nothing reached the customer.",
                             reached_customer=False, cause=error) from error

    async def _undo(self, undo: Undo, conversation_sid: str) -> None:
        try:
            await undo()
        except OutboundError as error:
            log.warning("could not undo a failed send in conversation %s: %s", conversation_sid, error)

    async def _repair_route(self, conversation_sid: str, error: BaseException) -> None:
        """The message went out but the reply route failed: try once more, else say so plainly."""
        log.warning("adding the reply route to %s failed: %s", conversation_sid, error)
        try:
            await self._route_after(conversation_sid, error if isinstance(error, OutboundError) else OutboundError())
        except OutboundError as retry_error:
            raise SendFailed(f"The message was sent, but its reply route could not be set up: {retry_error} "
                             "A reply would reach no agent.", reached_customer=True, cause=retry_error) from retry_error
