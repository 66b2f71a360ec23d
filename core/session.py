"""One agent's session: what the TUI holds while it runs.

    async with open_session(settings) as session:
        session.agent                          # the worker: name, live activity, available
        await session.become_available()       # TaskRouter worker update
        session.subscribe(callback)            # callback(record, event): each new status event of a send
        result = await session.send({...})    # the SendOutboundMessage action; recorded and followed
        session.history.sends()                # every send of this agent, newest first, across restarts
        await session.chats.my_chats()         # the agent's chat tasks (core/chats.py): reply, end, complete
        session.follow_chats(chats); session.subscribe_chats(callback)  # their customers' messages, live
        await session.answer_offer(event, accept=True)   # a task reserved for this agent
        core.rules.check_send(settings, ...)   # live "send unavailable: <reason>", no Twilio call
        await session.customer_status("whatsapp", "+14155550100", "+14155238886")  # window open? opted out?
        await session.templates()              # WhatsApp content templates, read once (settings' allow-list)

Errors are core.errors types whose str() is a sentence for the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import retry
from core.actions import SEND_OUTBOUND_MESSAGE, ActionBus, SendOutboundMessagePayload
from core.chats import Chat, ChatDesk
from core.customer import CustomerStatus, customer_status
from core.errors import LocalFileError, NotFound, OutboundError, SendFailed
from core.events import CustomerReplied, StatusEvent, TaskStatusChanged
from core.gateway import TwilioGateway
from core.history import SendHistory, SendRecord, default_path
from core.journal import SendJournal, Settled, recover, recover_replies
from core.models import Channel, SendMode, SendResult
from core.outbound import OutboundService
from core.settings import Settings
from core.templates import ContentTemplate, TemplateCatalog
from core.twilio_client import open_client
from core.views import Activity, AgentInfo
from core.watcher import StatusWatcher

if TYPE_CHECKING:
    from core.push import Push
    from core.relay import RelayEvent

Listener = Callable[[SendRecord, StatusEvent], None]

log = logging.getLogger("outbound_panel.session")

AVAILABLE = "Available"  # Flex's name for the activity in which an agent takes tasks
AGENT_EVERY_PUSHED = 300.0  # seconds between two reads of the agent's activity while the relay says when it changes


class Session:
    """The signed-in agent, their outbound service and the action bus it is registered on."""

    def __init__(self, settings: Settings, gateway: TwilioGateway, service: OutboundService, bus: ActionBus,
                 watcher: StatusWatcher, history: SendHistory) -> None:
        self.settings = settings
        self.gateway = gateway
        self.service = service
        self.bus = bus
        self.watcher = watcher
        self.history = history
        self.catalog = TemplateCatalog(gateway, settings.whatsapp.template_filters)
        service.now = watcher.wall
        self._listeners: list[Listener] = []
        self.offers: dict[str, TaskStatusChanged] = {}  # tasks offered to this agent now, by task SID
        self.recovered: list[str] = []  # what start-up did with sends a crash left unfinished, in words
        self.drafts: dict[str, str] = {}  # replies a crash kept from going, given back by chat conversation
        self._activities: list[Activity] | None = None  # the workspace's, read once and on a miss
        self._agent_lock = asyncio.Lock()  # agent reads and updates land in the order they were asked
        self._chats: set[str] = set()  # conversations of the agent's chats the watcher follows
        self._chat_listeners: list[Callable[[StatusEvent], None]] = []
        self.unread: dict[str, int] = {}  # customer messages not yet seen, by chat conversation
        self._background: set[asyncio.Task[None]] = set()  # own chats being accepted, unknown sends looked up
        self.journal: SendJournal | None = None  # sends in flight, and those whose outcome Twilio left unknown
        self._settling = asyncio.Lock()
        self._settled_listeners: list[Callable[[Settled], None]] = []
        self.settle_after = 15.0  # seconds before an unknown send is looked up again (then twice as long…)
        self.push: Push | None = None  # the relay's events (core/push.py), when settings.relay names a NATS server
        self._agent_read = float("-inf")  # loop time of the last read of the agent's worker
        self._agent_changed = False  # the relay said the agent's activity changed since
        watcher.subscribe(self._on_event)

    @property
    def chats(self) -> ChatDesk:
        """The agent's chat tasks: read from TaskRouter, answered, ended, completed, handed over."""
        return ChatDesk(self.gateway, self.agent, self.service.journal)

    @property
    def agent(self) -> AgentInfo:
        """The agent's worker as last read or updated (the service sends as this agent)."""
        return self.service.agent

    async def refresh_agent(self) -> AgentInfo:
        """Re-reads the agent's worker (its live activity) and returns it."""
        async with self._agent_lock:
            self._agent_changed = False
            self.service.agent = await self.gateway.fetch_agent()
            self._agent_read = asyncio.get_running_loop().time()
            return self.agent

    def agent_due(self) -> bool:
        """Whether the agent's activity (which Flex or a supervisor may change) is to be read again now; the app
        asks every few seconds. Always while status is polled; with the relay live, once it said the activity
        changed, and every AGENT_EVERY_PUSHED seconds in case."""
        if self.push is None or not self.push.live or self._agent_changed:
            return True
        return asyncio.get_running_loop().time() - self._agent_read >= AGENT_EVERY_PUSHED

    def _relay_event(self, event: RelayEvent) -> None:
        if event.type.startswith("worker."):
            self._agent_changed = True

    async def activity_names(self) -> list[str]:
        """The workspace's activity names, freshly read, in Twilio's order."""
        return [activity.name for activity in await self._read_activities()]

    async def become_available(self) -> AgentInfo:
        """Moves the agent to "Available" (else to the first activity that takes tasks)."""
        activity = self._available(self._activities or []) or self._available(await self._read_activities())
        if activity is None:
            raise NotFound("This workspace has no activity in which an agent takes tasks: "
                           "ask a TaskRouter administrator to add one (Flex names it Available).")
        return await self._move_to(activity)

    async def set_activity(self, name: str) -> AgentInfo:
        """Moves the agent to the activity with this name (case-insensitive)."""
        activity = self._named(self._activities or [], name) or self._named(await self._read_activities(), name)
        if activity is None:
            choices = ", ".join(a.name for a in self._activities or []) or "none"
            raise NotFound(f"There is no activity named {name.strip()!r}; the activities are: {choices}.")
        return await self._move_to(activity)

    async def send(self, payload: SendOutboundMessagePayload | Mapping[str, Any]) -> SendResult:
        """Sends through the SendOutboundMessage action, so its listeners and replacements apply; then the
        send is recorded in the history and followed by the watcher."""
        await self.settle_unknown()  # a send Twilio left unanswered before is settled first: it may block this one
        began = self.watcher.wall()
        try:
            result: SendResult = await self.bus.invoke(SEND_OUTBOUND_MESSAGE, payload)
        except SendFailed as failed:
            if not failed.checked:
                self._settle_later()
            raise
        self.history.record(result, began)
        self.watcher.follow(result, at=began)
        return result

    async def settle_unknown(self) -> list[str]:
        """Looks up the sends whose outcome Twilio left unknown (core.journal.recover): one found is recorded
        and followed like any send, an empty conversation one left is removed; the agent is told through
        subscribe_settled. Those that still cannot be checked stay for the next look-up."""
        if self.journal is None:
            return []
        async with self._settling:
            settled = await recover(self.service, self.journal, unknown_only=True)
        for found in settled:
            if found.result is not None:  # followed from its start, as any send (created and queued first)
                self.history.record(found.result, found.started_at)
                self.watcher.follow(found.result, at=found.started_at)
            for listener in list(self._settled_listeners):
                listener(found)
        return [found.sentence for found in settled]

    def subscribe_settled(self, listener: Callable[[Settled], None]) -> None:
        """`listener(settled)` for each send whose unknown outcome a later look-up settled (its sentence, its
        send id, and the send when it went out)."""
        self._settled_listeners.append(listener)

    def _settle_later(self) -> None:
        """Looks again after `settle_after` seconds, then after twice as long…, while unknown sends remain."""
        async def later() -> None:
            delay = self.settle_after
            while self.journal is not None and self.journal.unfinished(unknown_only=True):
                await asyncio.sleep(delay)
                with contextlib.suppress(OutboundError):
                    await self.settle_unknown()
                delay = min(delay * 2, 600.0)

        if not any(task.get_name() == "settle-later" for task in self._background):
            self._keep(asyncio.get_running_loop().create_task(later(), name="settle-later"))

    def _keep(self, task: asyncio.Task[None]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def customer_status(self, channel: Channel | str, destination: str, sender: str) -> CustomerStatus:
        """Whether the customer's WhatsApp window with this sender is open and whether they opted out
        (`destination` and `sender` in E.164; core.customer says where this comes from)."""
        prefix = "whatsapp:" if Channel(channel) is Channel.WHATSAPP else ""
        address, proxy_address = (prefix + number.removeprefix("whatsapp:") for number in (destination, sender))
        status = await customer_status(self.gateway, address, proxy_address, self.watcher.wall())
        self.service.customers[(address, proxy_address)] = status  # the bus's rules know it too
        return status

    async def templates(self, refresh: bool = False) -> list[ContentTemplate]:
        """The content templates offered for WhatsApp: approved first, read from Twilio once (or on `refresh`)."""
        templates = await self.catalog.templates(refresh)
        self.service.templates = {template.sid: template for template in templates}  # the bus's rules know them
        return templates

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """`listener(record, event)` for each new status event of this agent's sends (never one seen before,
        not even after a restart); returns the function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def offered_to_me(self, event: StatusEvent) -> bool:
        """A task reserved for this agent, which they can accept or reject."""
        return (isinstance(event, TaskStatusChanged) and event.status == "reserved"
                and event.worker_sid == self.agent.sid and event.reservation_sid is not None)

    def offer(self, conversation_sid: str | None = None) -> TaskStatusChanged | None:
        """The task offered to this agent in that conversation; without one, the newest offer; None if none."""
        if conversation_sid is None:
            return next(reversed(self.offers.values()), None)
        return next((o for o in self.offers.values() if o.conversation_sid == conversation_sid), None)

    async def answer_offer(self, offer: TaskStatusChanged, accept: bool) -> None:
        """Accepts or rejects the reservation that offers this agent the task; the watcher reports what follows.
        Answered or not (it may have timed out), it is no longer an offer."""
        assert offer.reservation_sid is not None
        self.offers.pop(offer.task_sid, None)
        await self.gateway.answer_reservation(offer.task_sid, offer.reservation_sid, accept)
        self.watcher.nudge(offer.conversation_sid)

    def follow_chats(self, chats: list[Chat]) -> None:
        """The agent's chats, followed by the one status watcher: their events reach subscribe_chats()."""
        for chat in chats:
            self._chats.add(chat.conversation_sid)
            self.watcher.follow_chat(chat.conversation_sid, chat.customer, chat.task_sid)

    def subscribe_chats(self, listener: Callable[[StatusEvent], None]) -> None:
        """`listener(event)` for each new event of a followed chat (a customer's message, its task's status)."""
        self._chat_listeners.append(listener)

    def _on_event(self, event: StatusEvent) -> None:
        if event.conversation_sid in self._chats:
            if isinstance(event, CustomerReplied):
                self.unread[event.conversation_sid] = self.unread.get(event.conversation_sid, 0) + 1
            for chat_listener in list(self._chat_listeners):
                chat_listener(event)
        record = self.history.add(event)
        if record is None:
            return  # not a send of this agent's, or seen before (a resumed send reports its states again)
        if self._own_chat(record, event):
            self._accept_later(event)  # I just asked for this chat: no second key (`[ui] auto_accept_own_chats`)
        else:
            self._track_offer(event)
        for listener in list(self._listeners):
            listener(record, event)

    def _own_chat(self, record: SendRecord, event: StatusEvent) -> bool:
        """The task of an open chat the agent started, offered to them, and the settings accept it for them."""
        return (self.settings.ui.auto_accept_own_chats and record.mode is SendMode.OPEN_CHAT
                and self.offered_to_me(event) and isinstance(event, TaskStatusChanged)
                and event.task_sid == record.result.task_sid)

    def _accept_later(self, event: TaskStatusChanged) -> None:
        async def accept() -> None:
            try:
                await self.answer_offer(event, accept=True)
            except OutboundError as error:  # still offered: F8 can take it
                log.warning("accepting your own chat failed: %s", error)
                self.offers[event.task_sid] = event

        self._keep(asyncio.get_running_loop().create_task(accept()))

    def _track_offer(self, event: StatusEvent) -> None:
        if isinstance(event, TaskStatusChanged):
            if self.offered_to_me(event):
                self.offers[event.task_sid] = event
            else:
                self.offers.pop(event.task_sid, None)

    def _restore_offers(self) -> None:
        """Offers still open when the app last stopped: the last task event of each unfinished send."""
        for record in self.history.unfinished():
            tasks = [e for e in self.history.timeline(record.message_sid) if isinstance(e, TaskStatusChanged)]
            if tasks:
                self._track_offer(tasks[-1])

    # -- pieces ------------------------------------------------------------------------------------

    async def _read_activities(self) -> list[Activity]:
        self._activities = await self.gateway.activities()
        return self._activities

    async def _move_to(self, activity: Activity) -> AgentInfo:
        async with self._agent_lock:
            try:
                self.service.agent = await self.gateway.set_agent_activity(activity.sid)
            except NotFound:
                self._activities = None  # perhaps the activity was removed: read them again next time
                raise
            return self.agent

    @staticmethod
    def _available(activities: list[Activity]) -> Activity | None:
        named = [a for a in activities if a.available and a.name.casefold() == AVAILABLE.casefold()]
        return next(iter(named or [a for a in activities if a.available]), None)

    @staticmethod
    def _named(activities: list[Activity], name: str) -> Activity | None:
        wanted = name.strip().casefold()
        return next((a for a in activities if a.name.casefold() == wanted), None)


@asynccontextmanager
async def open_session(settings: Settings, deadline: float = 10.0, *, history_path: Path | str | None = None,
                       watcher: Callable[[TwilioGateway], StatusWatcher] = StatusWatcher,
                       resume: bool = True) -> AsyncIterator[Session]:
    """Signs the configured agent in (their worker must exist), resumes following their unfinished sends (not
    with `resume` False: a one-shot command follows only its own); stops the watcher and closes the history and the
    Twilio client at exit.

    Needs Twilio credentials in `settings` (the embedded simulator's demo ones will do). The history is
    `history_path`, else core.history.default_path() (the user data dir)."""
    async with open_client(settings) as client:
        gateway = TwilioGateway(client, settings, deadline=deadline)
        service = OutboundService(gateway, await retry.read(gateway.fetch_agent))
        bus = ActionBus()
        service.register_actions(bus)
        path = history_path or default_path()
        try:
            history, journal = SendHistory(path, service.agent.sid), SendJournal(path, service.agent.sid)
        except (sqlite3.Error, OSError) as error:
            raise LocalFileError(f"The history file {path} cannot be used ({error}): move it away and start again "
                                 "(a new one is made); the sends it holds stay in it.") from None
        try:
            session = Session(settings, gateway, service, bus, watcher(gateway), history)
            settled = await recover(service, journal)  # what a crash left, settled first
            replies, session.drafts = await recover_replies(gateway, journal)
            session.recovered = [found.sentence for found in settled] + replies
            service.journal = session.journal = journal
            for record in history.unfinished() if resume else ():
                session.watcher.follow(record.result, resumed=True)
            for found in settled:
                if found.result is not None:  # it went out: it joins the history and is followed, from its start
                    history.record(found.result, found.started_at)
                    session.watcher.follow(found.result, at=found.started_at)
            session._restore_offers()
            if journal.unfinished(unknown_only=True):  # a send a kill cut off a moment ago: looked at again later
                session._settle_later()
            from core.push import Push  # the relay's modules (aiohttp.web, nats) only when there is one

            push = Push(session.watcher, settings.relay, service.agent.friendly_name) if settings.relay.nats_url \
                else None
            session.push = push
            if push is not None:
                push.subscribe(session._relay_event)
            async with session.watcher, push or contextlib.nullcontext():
                try:
                    yield session
                finally:
                    for task in list(session._background):
                        task.cancel()
        finally:
            history.close()
            journal.close()
