"""The status watcher: what happens to each send after it left — delivery, replies, the task's routing.

    watcher = StatusWatcher(session.gateway)
    unsubscribe = watcher.subscribe(callback)    # called in the event loop with each StatusEvent
    async with watcher:                          # start() … stop(): one polling task for all sends
        watcher.follow(result)                   # after each send (core.session does both)
        watcher.follow_chat(conversation_sid, customer, task_sid)   # a chat of the agent's: its customer's messages

With a relay (core/push.py: `set_push(True)`), Twilio's pushed events say what to read: `pushed(conversation)`
reads its messages now, `pushed(conversation, task)` that task by its SID (a new one checked to be the send's);
nothing else is read but each followed conversation and task every `safety` seconds (600), in case a webhook never
came; no task list (except to catch up after a restart) and no reservation reads. A conversation the relay has
not said anything of yet is polled as below until it does (its first webhook may have been lost). A 429 pauses the
same way.
When the relay goes (`set_push(False)`), everything is read at once and polled as follows:

Twilio offers no push a terminal can receive by itself, so without a relay it polls, adaptively and with list
calls:

* per followed conversation, ONE `GET …/Messages?Order=desc&PageSize=20`: our message's aggregated
  `delivery` summary and any new customer message. Receipts (`…/Messages/{IM}/Receipts`) are read only
  when the summary says failed/undelivered, for the error code.
* each task known by its SID (an open chat's, a reply's once found) is read by its SID, at its conversation's
  pace (fast after a change, then backing off to `slow`); a task's reservations are read only when it becomes
  reserved/assigned, to name the worker. A reply routed to this agent is found in their own pending
  reservations (one request a tick while a send waits for its task).
* the task list (`conversationSid IN ["CH…", …]`, one request for every conversation that needs it, split only
  past MAX_EXPRESSION characters) only finds tasks not yet known: after a send that waits for a reply, after a
  customer's reply (which makes a task), after a restart. TaskRouter allows that list 3 requests a second per
  account, so each terminal asks it at most once every `discover_every` seconds (20: 50 agents make 2.5 a
  second), up to DISCOVERIES times per need.
* a conversation is polled every `fast` seconds after the send and after any change to it, for
  `quiet_after` seconds; then its interval doubles at each quiet poll up to `slow`. The task list runs
  every `fast` seconds while any conversation is in its fast phase, else every `task_period` seconds.
  Defaults: 100 quiet sends cost 100 × 60/120 (+ as much again for those with a known task) + 6 (the agent's
  pending reservations, while a wait_me send has no task yet) requests a minute. The price: a reply to a
  long-quiet conversation may take up to `slow` (120 s) to show, except a wait_me reply, whose task is offered
  to the agent and found in their reservations within `task_period`; that change polls the conversation at once.
  (A relay takes that price away.)
* following stops at a final state: the message failed/undelivered, a task completed/canceled (then the
  conversation's state is read once, to report it closed), or the conversation gone.
* a 429 (RateLimited) pauses all polling for its Retry-After (DEFAULT_PAUSE when absent); any other error
  backs that poll off and the loop goes on. The loop never dies of an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from core import retry
from core.errors import NotFound, OutboundError, RateLimited
from core.events import (FINAL_MESSAGE, FINAL_TASK, PROGRESS, Callback, ConversationEvent, CustomerReplied,
                         MessageStatus, MessageStatusChanged, StatusEvent, TaskStatusChanged, summary_status)
from core.gateway import TwilioGateway
from core.views import MessageView, TaskView
from core.models import SendMode, SendResult
from core.status_text import delivery_sentence

log = logging.getLogger("outbound_panel.watcher")
T = TypeVar("T")

DEFAULT_PAUSE = 5.0  # seconds to pause on a 429 without Retry-After
MAX_EXPRESSION = 4000  # characters of one task list expression (≈100 conversations)
DISCOVERIES = 3  # task list looks for a conversation's new task before it waits for the next sign of one
TASK_FAST = 2.0  # seconds between two reads of a known task (by SID), at the fastest
PAGE_SIZE = 20  # newest messages read per conversation poll


# -- the watcher -------------------------------------------------------------------------------------


@dataclass
class _Followed:
    sid: str  # the conversation
    result: SendResult | None  # the send followed; None for a chat followed for its customer's messages
    customer: str  # the customer's number, without a channel prefix
    interval: float
    next_poll: float
    last_change: float
    status: MessageStatus = "queued"
    our_index: int | None = None
    our_created: datetime | None = None
    seen_index: int = -1
    caught_up: bool = False  # what the conversation held before is known, not news
    # task SID -> (status, date_updated) last seen: a reservation rejected and offered to another agent
    # at once leaves the status "reserved" but changes the date
    tasks: dict[str, tuple[str, datetime | None]] = field(default_factory=dict)
    told: bool = False  # the relay has said something of it: push is known to reach this agent for it
    discover: int = 0  # task list looks left for a task not yet known
    next_task_read: float = 0.0  # when its known tasks are read again (by SID)
    done: bool = False


class StatusWatcher:
    """One polling task that follows every send given to `follow` and reports StatusEvents."""

    def __init__(self, gateway: TwilioGateway, *, clock: Callable[[], float] = retry.now,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep, fast: float = 0.5,
                 slow: float = 120.0, quiet_after: float = 15.0, task_period: float = 10.0,
                 concurrency: int = 10, wall: Callable[[], datetime] = lambda: datetime.now(UTC),
                 discover_every: float = 20.0, safety: float = 600.0) -> None:
        self.gateway = gateway
        self.fast, self.slow, self.quiet_after, self.task_period = fast, slow, quiet_after, task_period
        self.discover_every, self.safety = discover_every, safety
        self.pushing = False  # the relay tells what changes (core/push.py): read only then, and every `safety` s
        self._pushed_tasks: dict[str, str] = {}  # task SID -> conversation SID: tasks the relay named, to read
        self._next_discovery = 0.0
        self._next_offered = 0.0  # when the agent's pending reservations are read again while a wait_me send waits
        self._not_ours: set[str] = set()  # tasks offered to the agent that none of the followed sends made
        self._pause_listeners: list[Callable[[float], None]] = []
        self._clock, self._sleep = clock, sleep
        self.wall = wall  # the time of day events carry when Twilio gives none
        self._limit = asyncio.Semaphore(concurrency)
        self._followed: dict[str, _Followed] = {}
        self._callbacks: list[Callback] = []
        self._task: asyncio.Task[None] | None = None
        self._next_tasks = 0.0
        self._paused_until = 0.0
        self._names: dict[str, str] = {}  # worker SID -> full name
        self.requests = 0  # Twilio requests made so far (for benches and tests)

    # -- public ------------------------------------------------------------------------------------

    def follow(self, result: SendResult, *, resumed: bool = False, at: datetime | None = None) -> None:
        """Follows this send from now on. `resumed`: a send followed before a restart, whose first events
        were reported then; what it reports again is for the subscriber to recognise (core.history does).
        `at`: when the send began (its created/queued events carry it: Twilio's own times come after)."""
        now = self._clock()
        followed = _Followed(sid=result.conversation_sid, result=result, customer=result.request.destination,
                             interval=self.fast, next_poll=now, last_change=now)
        if result.task_sid:
            followed.tasks[result.task_sid] = ("", None)
        # a send's task, when not known from the start, is made by the customer's reply (seen by _read_messages);
        # after a restart it may have been made meanwhile
        followed.discover = DISCOVERIES if resumed and not result.task_sid else 0
        self._followed[result.conversation_sid] = followed
        self._next_tasks = min(self._next_tasks, now)
        if resumed:
            return
        began = at or self.wall()
        self._emit(ConversationEvent(conversation_sid=result.conversation_sid, at=began,
                                     kind="reused" if result.reused else "created"))
        self._emit(MessageStatusChanged(conversation_sid=result.conversation_sid, at=began,
                                        message_sid=result.message_sid, status="queued"))

    def follow_chat(self, conversation_sid: str, customer: str, task_sid: str) -> None:
        """Follows a chat (one the agent did not send, or sent before this run) for its customer's messages and
        its task, from now on: what was written before is the transcript's, not news."""
        f = self._followed.get(conversation_sid)
        if f is None:
            now = self._clock()
            f = self._followed[conversation_sid] = _Followed(sid=conversation_sid, result=None, customer=customer,
                                                             interval=self.fast, next_poll=now, last_change=now)
            self._next_tasks = min(self._next_tasks, now)
        f.tasks.setdefault(task_sid, ("", None))

    def nudge(self, conversation_sid: str) -> None:
        """Something was just done to this conversation (a reservation answered): poll it and the tasks now."""
        f = self._followed.get(conversation_sid)
        if f is not None:
            f.last_change = f.next_poll = f.next_task_read = self._next_tasks = self._clock()

    def set_push(self, on: bool) -> None:
        """The relay is live (on) or gone (off). Either way everything followed is read now: what happened while
        nobody told (or before push began) is caught up; then reads follow the relay's events, or the polling pace."""
        if on == self.pushing:
            return
        self.pushing = on
        self.catch_up()
        log.info("status %s", "pushed by the relay" if on else "polled (no relay)")

    def catch_up(self) -> None:
        """Everything followed is read now (the relay may have missed telling something)."""
        now = self._clock()
        for f in self._followed.values():
            f.next_poll = f.next_task_read = f.last_change = now
            f.interval = self.fast
        self._next_tasks = self._next_offered = now

    def pushed(self, conversation_sid: str | None, task_sid: str | None = None) -> bool:
        """The relay says something happened to this conversation (a message, a delivery, its state) or to its task
        `task_sid`: it is read now. False when the conversation is not followed."""
        f = self._followed.get(conversation_sid or "")
        if f is None or f.done:
            return False
        now = self._clock()
        f.told = True
        if task_sid is None:
            f.next_poll = now
        else:
            if task_sid not in f.tasks:
                self._pushed_tasks[task_sid] = f.sid
            f.next_task_read = self._next_tasks = now
        return True

    @property
    def following(self) -> list[str]:
        """Conversation SIDs still followed (not at a final state)."""
        return list(self._followed)

    def poll_intervals(self) -> dict[str, float]:
        """Each followed conversation's current poll interval in seconds (fast … slow)."""
        return {sid: f.interval for sid, f in self._followed.items()}

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """`callback(event)` for every event, in the event loop; returns the function that unsubscribes."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    async def events(self) -> AsyncIterator[StatusEvent]:
        """Every event from now on, as an async iterator (a subscription for as long as it is iterated)."""
        queue: asyncio.Queue[StatusEvent] = asyncio.Queue()
        unsubscribe = self.subscribe(queue.put_nowait)
        try:
            while True:
                yield await queue.get()
        finally:
            unsubscribe()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="status watcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> StatusWatcher:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- the loop ----------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # never die: log it and go on at the slow pace of an error
                log.exception("status watcher tick failed")
                await self._sleep(self.fast)

    async def tick(self) -> None:
        """Polls what is due (or sleeps until something is, at most `fast` seconds)."""
        now = self._clock()
        if now < self._paused_until:
            await self._sleep(self._paused_until - now)
            return
        due = [f for f in self._followed.values() if f.next_poll <= now]
        tasks_due = bool(self._followed) and self._next_tasks <= now
        if not due and not tasks_due:
            wake = min([f.next_poll for f in self._followed.values()] + [self._next_tasks if self._followed
                                                                         else now + self.fast])
            await self._sleep(min(max(wake - now, 0.0), self.fast) or self.fast / 10)
            return
        if due:
            await asyncio.gather(*(self._poll_conversation(f) for f in due))
        if tasks_due and self._clock() >= self._paused_until:
            await self._poll_tasks()
        self._drop_finished()

    def _pause(self, error: RateLimited) -> None:
        pause = error.retry_after if error.retry_after and error.retry_after > 0 else DEFAULT_PAUSE
        self._paused_until = max(self._paused_until, self._clock() + pause)
        log.warning("Twilio asked to slow down: polling paused for %.1f s", pause)
        for listener in list(self._pause_listeners):
            listener(pause)

    def on_pause(self, listener: Callable[[float], None]) -> None:
        """`listener(seconds)` each time Twilio asks to slow down (a 429): status is delayed that long."""
        self._pause_listeners.append(listener)

    async def _request(self, call: Awaitable[T]) -> T:
        self.requests += 1
        return await call

    # -- one conversation --------------------------------------------------------------------------

    async def _poll_conversation(self, f: _Followed) -> None:
        async with self._limit:
            if self._clock() < self._paused_until or f.done:
                return
            try:
                messages = await self._request(self.gateway.recent_messages(f.sid, PAGE_SIZE))
                changed = await self._read_messages(f, messages)
            except RateLimited as error:
                self._pause(error)
                return
            except NotFound:
                self._finish(f, closed=True)
                return
            except OutboundError as error:
                log.warning("polling conversation %s failed: %s", f.sid, error)
                f.interval = min(max(f.interval, self.fast) * 2, self.slow)
                f.next_poll = self._clock() + f.interval
                return
            self._schedule(f, changed)

    def _schedule(self, f: _Followed, changed: bool) -> None:
        now = self._clock()
        if changed:
            f.last_change = now
        if self.pushing and f.told:  # the relay says when to read again
            f.interval = self.safety
        elif changed or now - f.last_change < self.quiet_after:
            f.interval = self.fast
        else:
            f.interval = min(f.interval * 2, self.slow)
        f.next_poll = now + f.interval

    async def _read_messages(self, f: _Followed, messages: list[MessageView]) -> bool:
        changed = False
        ours = next((m for m in messages if f.result is not None and m.sid == f.result.message_sid), None)
        if ours is not None:
            first = f.our_index is None
            if first:
                f.our_index, f.our_created = ours.index, ours.date_created
                f.seen_index = max(f.seen_index, ours.index)
                f.caught_up = True
            # seen for the first time (a send resumed after a restart): what it had reached by now happened at some
            # time since it was made, before anything the customer wrote after it; dated by its making
            changed = await self._message_status(f, ours, ours.date_created if first else None) or changed
        elif not f.caught_up and messages:  # ours is not among the newest: report no backlog as replies
            f.seen_index = max(f.seen_index, max(m.index for m in messages))
            f.caught_up = f.result is None  # a chat's news start now; a send's once its own message shows
        for message in sorted(messages, key=lambda m: m.index):
            if message.index <= f.seen_index:
                continue
            f.seen_index = message.index
            if _bare(message.author) == f.customer and message.body is not None:
                self._emit(CustomerReplied(conversation_sid=f.sid, at=message.date_created or self.wall(),
                                           message_sid=message.sid, body=message.body))
                changed = True
                if not (self.pushing and f.told) and all(status in FINAL_TASK for status, _ in f.tasks.values()):
                    f.discover = DISCOVERIES  # none live: a reply makes one (pushed, its task.created names it)
        return changed

    async def _message_status(self, f: _Followed, ours: MessageView, at: datetime | None = None) -> bool:
        status = summary_status(ours.delivery)
        if status == f.status:
            return False
        if status in FINAL_MESSAGE:
            if status == "undelivered" and f.status == "queued":
                self._status(f, "sent", at=at)  # an undelivered message was sent first
            receipts = await self._request(self.gateway.receipts(f.sid, ours.sid))
            code = next((r.error_code for r in receipts if r.status == status and r.error_code), None)
            self._status(f, status, code, delivery_sentence(code, status), at)
            f.done = True
            return True
        levels = PROGRESS[PROGRESS.index(f.status) + 1 if f.status in PROGRESS else 0:PROGRESS.index(status) + 1]
        for level in levels:  # the summary is cumulative: a skipped level was passed through
            self._status(f, level, at=at)
        return True

    def _status(self, f: _Followed, status: MessageStatus, code: int | None = None,
                sentence: str | None = None, at: datetime | None = None) -> None:
        f.status = status
        assert f.result is not None  # a status is only ever of the send's own message
        self._emit(MessageStatusChanged(conversation_sid=f.sid, at=at or self.wall(), message_sid=f.result.message_sid,
                                        status=status, error_code=code, sentence=sentence))

    # -- every conversation's tasks ----------------------------------------------------------------

    async def _poll_tasks(self) -> None:
        live = [f for f in self._followed.values() if not f.done]
        now = self._clock()
        if not live:
            return
        fast = any(now - f.last_change < self.quiet_after for f in live)
        untold = [f for f in live if not f.told]
        self._next_tasks = now + (self.safety if self.pushing and not untold else self.fast if fast
                                  else self.task_period)
        known = [(f, sid) for f in live if f.next_task_read <= now
                 for sid, (status, _) in f.tasks.items() if status not in FINAL_TASK]
        for f in {f.sid: f for f, _ in known}.values():  # at the conversation's own pace, never faster than TASK_FAST
            f.next_task_read = now + (self.safety if self.pushing and f.told else max(TASK_FAST, f.interval))
        await asyncio.gather(*(self._read_task(f, sid) for f, sid in known))
        pushed, self._pushed_tasks = self._pushed_tasks, {}
        for sid in await self._consider(list(pushed)):  # not readable yet: at the next tick
            self._pushed_tasks[sid] = pushed[sid]
            self._next_tasks = min(self._next_tasks, now + TASK_FAST)
        discovering = any(f.discover for f in live)
        if ((discovering or any(_waits_for_me(f) for f in (untold if self.pushing else live)))
                and now >= self._next_offered):
            self._next_offered = now + (TASK_FAST if discovering else self.task_period)
            await self._offered_to_me()
        wanting = [f for f in live if f.discover and not f.done]
        if wanting and now >= self._next_discovery and self._clock() >= self._paused_until:
            await self._discover(wanting)

    async def _read_task(self, f: _Followed, sid: str) -> None:
        async with self._limit:
            if self._clock() < self._paused_until:
                return
            try:
                task = await self._request(self.gateway.task(sid))
            except RateLimited as error:
                self._pause(error)
                return
            except NotFound:
                f.tasks.pop(sid, None)  # gone: a task made again would be found by the task list
                return
            except OutboundError as error:
                log.warning("reading task %s failed: %s", sid, error)
                return
        await self._task_status(f, task)

    async def _offered_to_me(self) -> None:
        """A reply routed to this agent, found at once in their own pending reservations (not the task list)."""
        try:
            offered = await self._request(self.gateway.offered_task_sids())
        except RateLimited as error:
            self._pause(error)
            return
        except OutboundError as error:
            log.warning("reading the tasks offered to the agent failed: %s", error)
            return
        await self._consider(offered)

    async def _consider(self, sids: list[str]) -> list[str]:
        """Tasks that may be a followed conversation's new one (offered to the agent, or named by the relay):
        each read once by its SID; those of no followed send are not read again. Returns those to look at again:
        unreadable now, or of a send whose own message is not read yet."""
        known = {sid for f in self._followed.values() for sid in f.tasks}
        again = []
        for sid in sids:
            if sid in known or sid in self._not_ours:
                continue
            try:
                task = await self._request(self.gateway.task(sid))
            except OutboundError:
                again.append(sid)
                continue
            f = self._followed.get(task.conversation_sid or "")
            if f is not None and f.result is not None and f.our_created is None:
                again.append(sid)  # whether it came after our message is not known yet
                continue
            if f is None or f.done or not self._ours(f, task):
                self._not_ours.add(sid)  # another conversation's: not read again
                continue
            f.discover = 0
            await self._task_status(f, task)
        return again

    async def _discover(self, wanting: list[_Followed]) -> None:
        """The tasks not known yet of these conversations, from the task list (once per `discover_every`)."""
        self._next_discovery = self._clock() + self.discover_every
        for f in wanting:
            f.discover -= 1
        for chunk in _chunks([f.sid for f in wanting]):
            try:
                tasks = await self._request(self.gateway.tasks_for_conversations(chunk))
            except RateLimited as error:
                self._pause(error)
                self._next_discovery = max(self._next_discovery, self._paused_until)
                for f in wanting:
                    f.discover += 1  # not looked: looked again after the pause
                return
            except OutboundError as error:
                log.warning("looking for new tasks failed: %s", error)
                return
            for task in sorted(tasks, key=lambda t: (t.date_created or datetime.min.replace(tzinfo=UTC), t.sid)):
                f = self._followed.get(task.conversation_sid or "")
                if f is not None and not f.done and task.sid not in f.tasks and self._ours(f, task):
                    f.discover = 0  # found what it was looking for
                    await self._task_status(f, task)

    @staticmethod
    def _ours(f: _Followed, task: TaskView) -> bool:
        """The send's own task, or one made after its message (a reply's); never an earlier, finished one."""
        if task.sid in f.tasks:
            return True
        if f.our_created is None or task.date_created is None:
            return False  # not yet known when the message was made: next tick
        return task.date_created >= f.our_created - timedelta(seconds=1)

    async def _task_status(self, f: _Followed, task: TaskView) -> None:
        status = task.assignment_status
        if f.tasks.get(task.sid) == (status, task.date_updated):
            return
        worker_sid = worker_name = reservation_sid = None
        if status in ("reserved", "assigned"):
            try:
                holder = await self._request(self.gateway.task_holder(task.sid))
            except RateLimited as error:
                self._pause(error)
                return  # not recorded: seen again after the pause
            except OutboundError as error:
                log.warning("looking up the holder of %s failed: %s", task.sid, error)
                holder = None
            if holder is not None:
                worker_sid, reservation_sid = holder.worker_sid, holder.reservation_sid
                worker_name = await self._full_name(holder.worker_sid, holder.worker_name)
        f.tasks[task.sid] = (status, task.date_updated)
        self._emit(TaskStatusChanged(conversation_sid=f.sid, at=task.date_updated or self.wall(), task_sid=task.sid,
                                     status=status, worker_sid=worker_sid,  # type: ignore[arg-type]
                                     worker_name=worker_name, reservation_sid=reservation_sid))
        self._schedule(f, changed=True)  # a change: poll the conversation at once, then fast
        f.next_poll = self._clock()
        if status in FINAL_TASK:
            closed = False
            try:
                closed = await self._request(self.gateway.conversation_state(f.sid)) == "closed"
            except NotFound:
                closed = True
            except OutboundError as error:
                log.warning("reading the state of %s failed: %s", f.sid, error)
            self._finish(f, closed)

    async def _full_name(self, worker_sid: str, fallback: str) -> str:
        if worker_sid not in self._names:
            try:
                name = await self._request(self.gateway.worker_name(sid=worker_sid))
            except OutboundError:
                return fallback  # not cached: asked again next time
            self._names[worker_sid] = name or fallback
        return self._names[worker_sid]

    # -- pieces ------------------------------------------------------------------------------------

    def _finish(self, f: _Followed, closed: bool) -> None:
        f.done = True
        if closed:
            self._emit(ConversationEvent(conversation_sid=f.sid, at=self.wall(), kind="closed"))

    def _drop_finished(self) -> None:
        for sid in [sid for sid, f in self._followed.items() if f.done]:
            del self._followed[sid]

    def _emit(self, event: StatusEvent) -> None:
        for callback in list(self._callbacks):
            try:
                callback(event)
            except Exception:
                log.exception("a status event subscriber failed")


def _bare(address: str) -> str:
    return address.removeprefix("whatsapp:").strip()


def _waits_for_me(f: _Followed) -> bool:
    """A wait_me send whose reply (a task offered to the agent) has not come yet."""
    return not f.done and not f.tasks and f.result is not None and f.result.mode is SendMode.WAIT_ME


def _chunks(sids: list[str]) -> list[list[str]]:
    """The SIDs in groups whose `conversationSid IN [...]` expression stays under MAX_EXPRESSION characters."""
    chunks: list[list[str]] = [[]]
    length = 0
    for sid in sids:
        size = len(sid) + 4
        if chunks[-1] and length + size > MAX_EXPRESSION:
            chunks.append([])
            length = 0
        chunks[-1].append(sid)
        length += size
    return chunks if chunks[0] else []
