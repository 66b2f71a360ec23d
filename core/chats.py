"""The agent's chats (issue 12): every chat task reserved for or assigned to the agent, read from TaskRouter,
their transcripts, a reply written as the agent's Flex identity, ending a chat and completing its task.

TaskRouter is the source of truth: `my_chats()` reads the agent's worker reservations (pending, accepted,
wrapping) and fetches each task for its attributes (a task list returns none), so a restart or a second
terminal sees the same chats. Ending goes through Flex's Interactions API, as Flex UI does: the agent's
interaction-channel participant moves to wrap-up, which puts the task in `wrapping`; completing moves the
task to `completed`, which frees the agent's chat capacity. A reply carries its own send id, and an
unanswered post is looked up by it, never posted again (the send path's rule, core/outbound.py).

    desk = ChatDesk(gateway, agent)
    chats = await desk.my_chats()
    messages = await desk.transcript(chats[0])          # newest page, oldest first
    await desk.reply(chats[0], "Happy to help")
    await desk.end(chats[0]); await desk.complete(chats[0])
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from core import retry
from core.errors import OutboundError, SendFailed, TwilioUnavailable
from core.customer import CustomerStatus, customer_status
from core.identity import decode_identity
from core.models import Reply, json_object
from core.templates import ContentTemplate

if TYPE_CHECKING:  # the gateway imports twilio: the TUI imports this module before connecting
    from core.gateway import TwilioGateway
    from core.views import AgentInfo
    from core.journal import SendJournal

ChatState = Literal["offered", "talking", "wrap-up"]
STATES: dict[str, ChatState] = {"pending": "offered", "accepted": "talking", "wrapping": "wrap-up"}
PAGE = 50  # messages read at once when a chat opens, and each time older ones are asked for


class Chat(BaseModel):
    """One chat task of the agent's, as TaskRouter and Flex describe it."""

    task_sid: str
    reservation_sid: str
    state: ChatState
    since: datetime | None  # when it was offered to the agent
    conversation_sid: str
    channel: str  # sms, whatsapp, chat…
    customer: str  # the customer's address, without a channel prefix
    customer_name: str | None
    direction: str  # outbound (the agent started it) or inbound
    interaction_sid: str | None
    interaction_channel_sid: str | None


class ChatMessage(BaseModel):
    """A message of the transcript: who wrote it (the customer, me, a colleague) and its delivery summary."""

    sid: str
    index: int
    author: str
    mine: bool
    from_customer: bool
    body: str | None
    media: list[str]  # file names (or content types) of attached media
    delivery: dict[str, Any] | None
    at: datetime | None


class Colleague(BaseModel):
    """Where a chat can be handed over to: a worker (by name) or a queue."""

    sid: str  # WK… or WQ…
    name: str
    available: bool = True


class HandOver(BaseModel):
    """A chat offered to a colleague or a queue: the invite's own task, which they accept or not."""

    chat: Chat
    to: Colleague
    task_sid: str


class ChatDesk:
    """The agent's chats, through the gateway's client and its error mapping."""

    def __init__(self, gateway: TwilioGateway, agent: AgentInfo, journal: SendJournal | None = None) -> None:
        self.gateway = gateway
        self.agent = agent
        self.journal = journal  # replies on their way, for the next start if this one dies
        client = gateway.client
        self._workspace = client.taskrouter.v1.workspaces(gateway.settings.flex.workspace_sid)
        self._conversations = client.conversations.v1
        self._flex = client.flex_api.v1
        # conversation SID -> (the last page of its messages read, the index it ended on): older ones go on from it
        self._pages: dict[str, tuple[Any, int | None]] = {}

    # -- the workspace ---------------------------------------------------------------------------------

    async def my_chats(self) -> list[Chat]:
        """Every chat task offered to, assigned to or wrapping for the agent on the configured task channel,
        oldest first."""
        reservations = self._workspace.workers(self.agent.sid).reservations
        found = await asyncio.gather(*(
            retry.read(lambda s=status: self.gateway.call("reading your tasks",
                                                           reservations.list_async(reservation_status=s)))
            for status in STATES))
        chats = await asyncio.gather(*(self._chat(r) for rs in found for r in rs))
        return sorted((c for c in chats if c is not None), key=lambda c: (c.since is None, c.since, c.task_sid))

    async def _chat(self, reservation: Any) -> Chat | None:
        task = await retry.read(lambda: self.gateway.call("reading a task",
                                                           self._workspace.tasks(reservation.task_sid).fetch_async()))
        if task.task_channel_unique_name != self.gateway.settings.flex.task_channel:
            return None
        attributes = json_object(task.attributes)
        conversation_sid = attributes.get("conversationSid")
        if not conversation_sid:
            return None
        address = str(attributes.get("customerAddress") or attributes.get("from") or "")
        return Chat(task_sid=task.sid, reservation_sid=reservation.sid, state=STATES[reservation.reservation_status],
                    since=reservation.date_created, conversation_sid=conversation_sid,
                    channel=str(attributes.get("channelType") or "sms"),
                    customer=address.removeprefix("whatsapp:"), customer_name=attributes.get("customerName"),
                    direction=str(attributes.get("direction") or "inbound"),
                    interaction_sid=attributes.get("flexInteractionSid"),
                    interaction_channel_sid=attributes.get("flexInteractionChannelSid"))

    # -- a chat ----------------------------------------------------------------------------------------

    async def transcript(self, chat: Chat, before: int | None = None, size: int = PAGE) -> list[ChatMessage]:
        """The conversation's newest `size` messages, or the `size` before index `before` (older ones, asked
        for on demand), oldest first: what came before this task too. Older pages continue from where the last
        read ended (Twilio's next page), so scrolling back through a long conversation reads each page once."""
        messages = self._conversations.conversations(chat.conversation_sid).messages
        if before is None:
            page = await retry.read(lambda: self.gateway.call(
                "reading the conversation", messages.page_async(order="desc", page_size=size)))
            found = list(page)  # a page's records can be iterated once
            self._pages[chat.conversation_sid] = (page, found[-1].index if found else None)
        else:
            found = await self._older(chat, before, size)
        return [self._message(chat, m) for m in reversed(found)]

    async def _older(self, chat: Chat, before: int, size: int) -> list[Any]:
        """The `size` messages before index `before`: on from the page the last read ended on when it ended
        there, else from the newest page back."""
        page, last = self._pages.get(chat.conversation_sid, (None, None))
        older: list[Any] = []
        if page is None or last is None or int(last) != before:
            messages = self._conversations.conversations(chat.conversation_sid).messages
            page = await retry.read(lambda: self.gateway.call("reading older messages",
                                                               messages.page_async(order="desc", page_size=size)))
            older = [m for m in page if int(m.index or 0) < before]
        while len(older) < size and page.next_page_url is not None:
            current = page
            page = await retry.read(lambda: self.gateway.call("reading older messages", current.next_page_async()))
            older += [m for m in page if int(m.index or 0) < before]
        # the next read goes on from this page only if nothing of it is left over
        self._pages[chat.conversation_sid] = (page, older[-1].index if older and len(older) <= size else None)
        return older[:size]

    def _message(self, chat: Chat, message: Any) -> ChatMessage:
        author = message.author or ""
        media = [str(m.get("filename") or m.get("content_type") or "a file") for m in (message.media or [])
                 if isinstance(m, dict)]
        return ChatMessage(sid=message.sid, index=int(message.index or 0), author=author,
                           mine=author == self.agent.identity or decode_identity(author) == self.agent.friendly_name,
                           from_customer=author.removeprefix("whatsapp:") == chat.customer, body=message.body,
                           media=media, delivery=message.delivery if isinstance(message.delivery, dict) else None,
                           at=message.date_created)

    async def customer(self, chat: Chat, now: datetime) -> CustomerStatus | None:
        """The customer's WhatsApp window and opt-out with the number this chat is on (None: no such number)."""
        prefix = "whatsapp:" if chat.channel == "whatsapp" else ""
        address = prefix + chat.customer
        mine = [p for p in await retry.read(lambda: self.gateway.participations(address))
                if p.conversation_sid == chat.conversation_sid and p.proxy_address]
        if not mine:
            return None
        return await retry.read(lambda: customer_status(self.gateway, address, mine[0].proxy_address or "", now))

    async def is_closed(self, chat: Chat) -> bool:
        """Whether the conversation was closed (by the customer, a supervisor or its timer): the chat is
        read-only then, and only completing the task is left."""
        return await retry.read(lambda: self.gateway.conversation_state(chat.conversation_sid)) == "closed"

    async def where_it_went(self, chat: Chat) -> str:
        """A sentence for a chat that left the agent's list without them ending it."""
        task = await retry.read(lambda: self.gateway.call("reading the chat's task",
                                                           self._workspace.tasks(chat.task_sid).fetch_async()))
        status = str(task.assignment_status)
        if status in ("reserved", "assigned", "wrapping"):
            holder = await retry.read(lambda: self.gateway.task_holder(chat.task_sid))
            if holder is not None and holder.worker_sid != self.agent.sid:
                name = await retry.read(lambda: self.gateway.worker_name(sid=holder.worker_sid))
                return f"The chat with {chat.customer} is with {name or holder.worker_name} now."
        reason = f" ({task.reason})" if task.reason else ""
        return f"The chat with {chat.customer} is no longer yours: its task is {status}{reason}."

    async def reply(self, chat: Chat, body: str, send_id: str | None = None, template: ContentTemplate | None = None,
                    values: Mapping[str, str] | None = None) -> str:
        """Posts `body` (or `template` with its `values`) as the agent's Flex identity, once: an unanswered post is
        looked up by its send id. The journal keeps the reply while its outcome is unknown (a crash, a look-up
        that failed too), for the next start to settle (core.journal.recover_replies)."""
        reply = Reply(send_id=send_id or uuid.uuid4().hex, conversation_sid=chat.conversation_sid,
                      customer=chat.customer, body=template.render(values or {}) if template else body,
                      template=template is not None)
        if self.journal is not None:
            self.journal.begin_reply(reply)
        try:
            sid = await retry.create(lambda: self.gateway.send_message(
                chat.conversation_sid, self.agent.identity, None if template else body,
                template.sid if template else None, dict(values or {}), reply.send_id))
        except OutboundError as error:
            sid = await self._landed(reply, error)
        if self.journal is not None:
            self.journal.end_reply(reply)
        return sid

    async def settle_reply(self, chat: Chat, send_id: str, give_up: bool) -> bool | None:
        """A reply whose outcome was unknown, looked up again: True once found (it reached the conversation),
        False when `give_up` and it is still not there (it did not go), None to look again later."""
        landed = await retry.read(lambda: self.gateway.find_message(chat.conversation_sid, send_id))
        if not landed and not give_up:
            return None
        if self.journal is not None:
            self.journal.end_reply(Reply(send_id=send_id, conversation_sid=chat.conversation_sid,
                                         customer=chat.customer, body=""))
        return bool(landed)

    async def _landed(self, reply: Reply, error: OutboundError) -> str:
        """The reply's message if a post without an answer landed after all; else why it did not go."""
        if isinstance(error, TwilioUnavailable):
            try:
                landed = await retry.settle(
                    lambda: retry.read(lambda: self.gateway.find_message(reply.conversation_sid, reply.send_id)),
                    retry.settle_window(error, self.gateway.deadline))
            except OutboundError as lookup:
                raise SendFailed(f"The reply may have reached the customer: {error} It could not be checked "
                                 f"({str(lookup).rstrip('.')}); it will be at the next start.",
                                 reached_customer=None,
                                 cause=error) from error
            if landed:
                return landed
        if self.journal is not None:
            self.journal.end_reply(reply)
        raise SendFailed(f"The reply was not sent: {error} Nothing reached the customer.",
                         reached_customer=False, cause=error) from error

    async def accept(self, chat: Chat) -> None:
        """Takes the chat offered to the agent (TaskRouter reservation accepted; Flex adds them to it)."""
        await self.gateway.answer_reservation(chat.task_sid, chat.reservation_sid, accept=True)

    async def end(self, chat: Chat) -> None:
        """Ends the chat as Flex does: the agent's interaction-channel participant goes to wrap-up (the task to
        `wrapping`), and the channel closes, which closes the conversation for the customer."""
        if not (chat.interaction_sid and chat.interaction_channel_sid):
            raise OutboundError("This chat has no Flex interaction to end.")
        await self._set_my_participant(chat, "wrapup", "ending the chat")
        await self._close_channel(chat)

    async def _close_channel(self, chat: Chat) -> None:
        """The interaction channel to closed: Flex closes the conversation for the customer."""
        channel = self._flex.interaction(chat.interaction_sid).channels(chat.interaction_channel_sid)
        await retry.create(lambda: self.gateway.call("closing the conversation",
                                                      channel.update_async(status="closed")))

    async def colleagues(self) -> list[Colleague]:
        """The workspace's other workers (their Flex full names), then its queues: where a chat can go."""
        workers, queues = await asyncio.gather(
            retry.read(lambda: self.gateway.call("reading your colleagues", self._workspace.workers.list_async())),
            retry.read(lambda: self.gateway.call("reading the queues", self._workspace.task_queues.list_async())))
        people = [Colleague(sid=w.sid, name=json_object(w.attributes).get("full_name") or w.friendly_name,
                            available=bool(w.available)) for w in workers if w.sid != self.agent.sid]
        return sorted(people, key=lambda c: c.name) + [Colleague(sid=q.sid, name=f"{q.friendly_name} (queue)")
                                                      for q in queues]

    async def hand_over(self, chat: Chat, to: Colleague) -> HandOver:
        """Offers the chat to a colleague or a queue through a Flex interaction invite (a task of its own). The
        chat stays the agent's until they accept (`hand_over_done`)."""
        if not (chat.interaction_sid and chat.interaction_channel_sid):
            raise OutboundError("This chat has no Flex interaction to hand over.")
        flex = self.gateway.settings.flex
        target = {"worker_sid": to.sid} if to.sid.startswith("WK") else {"queue_sid": to.sid}
        routing = {"properties": {"workspace_sid": flex.workspace_sid, "workflow_sid": flex.workflow_sid,
                                  "task_channel_unique_name": flex.task_channel, **target,
                                  "attributes": {"conversationSid": chat.conversation_sid,
                                                 "customerAddress": chat.customer, "channelType": chat.channel,
                                                 "transferredFrom": self.agent.friendly_name}}}
        channel = self._flex.interaction(chat.interaction_sid).channels(chat.interaction_channel_sid)
        invite = await retry.create(lambda: self.gateway.call("handing the chat over",
                                                               channel.invites.create_async(routing=routing)))
        return HandOver(chat=chat, to=to, task_sid=invite.routing["properties"]["sid"])

    async def hand_over_done(self, hand_over: HandOver) -> str | None:
        """Where the handed-over chat stands: None while it waits; "accepted" once they took it (the agent then
        leaves the chat: their task completes); else the invite's end (canceled, …)."""
        task = await retry.read(lambda: self.gateway.call("reading the handed-over task",
                                                           self._workspace.tasks(hand_over.task_sid).fetch_async()))
        status = str(task.assignment_status)
        if status in ("pending", "reserved"):
            return None
        if status in ("assigned", "wrapping", "completed"):
            await self._set_my_participant(hand_over.chat, "closed", "leaving the chat")
            return "accepted"
        return status

    async def _set_my_participant(self, chat: Chat, status: str, what: str) -> None:
        """The agent's interaction-channel participant of this chat to `status` (wrapup, closed): Flex moves the
        agent's task with it (wrapping, completed)."""
        channel = self._flex.interaction(chat.interaction_sid).channels(chat.interaction_channel_sid)
        participants = await retry.read(lambda: self.gateway.call("reading the chat's participants",
                                                                   channel.participants.list_async()))
        for participant in participants:
            if participant.type == "agent" and (participant.routing_properties or {}).get("task_sid") == chat.task_sid:
                await retry.create(lambda p=participant: self.gateway.call(
                    what, channel.participants(p.sid).update_async(status=status)))

    async def complete(self, chat: Chat) -> None:
        """Completes the task in wrap-up: the agent's chat capacity is free again. An end whose closing failed
        (the task wrapping, the conversation still open for the customer) is finished first."""
        if chat.interaction_sid and chat.interaction_channel_sid and not await self.is_closed(chat):
            await self._close_channel(chat)
        await retry.create(lambda: self.gateway.call("completing the task", self._workspace.tasks(chat.task_sid)
                                                      .update_async(assignment_status="completed",
                                                                    reason="chat completed by the agent")))


