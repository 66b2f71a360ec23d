"""The write-ahead journal of sends in flight, and what the next start does with the ones a crash left.

    journal.begin(request)      # before the first Twilio call of a send
    journal.end(request)        # once the send returned or failed (its own compensation ran)
    journal.begin_reply(reply); journal.end_reply(reply)   # the same around a reply in a chat (core.chats)
    await recover(service, journal)   # at start-up: each unfinished send completed or cleaned up, in words

It shares the history's SQLite file (one file per user, rows per agent). A process killed mid-send (kill -9,
a power cut) leaves its row; nothing else does. Recovery reads Twilio's state and never posts a message: a
message found (by its outboundSendId) is kept and given its reply route; a conversation the send made but
left empty is removed, so it blocks no one; the agent is told which, customer by customer. A reply found is
kept; a reply not found did not go, and its text is given back as the chat's draft.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core import retry
from core.errors import OutboundError
from core.gateway import TwilioGateway
from core.models import Reply, SendMode, SendRequest, SendResult
from core.outbound import OutboundService
from core.phone import display
from core.views import CreatedInteraction

log = logging.getLogger("outbound_panel.journal")
UNKNOWN_GRACE = 60.0  # seconds after a request was given up on during which Twilio may still carry it out

_SCHEMA = """CREATE TABLE IF NOT EXISTS journal (
    send_id TEXT PRIMARY KEY, agent_sid TEXT NOT NULL, request TEXT NOT NULL, started_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS replies (
    send_id TEXT PRIMARY KEY, agent_sid TEXT NOT NULL, reply TEXT NOT NULL, started_at TEXT NOT NULL)"""


class SendJournal:
    """Sends of one agent begun and not yet ended, in SQLite (autocommit: each line is on disk when it returns).
    A send whose outcome Twilio left unknown (`unknown`) stays until a look-up settles it: at the next send,
    a little later, or at the next start."""

    def __init__(self, path: Path | str, agent_sid: str) -> None:
        self.agent_sid = agent_sid
        if str(path) != ":memory:":
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=5.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(journal)")}
        if "unknown" not in columns:  # a journal from before unknown outcomes were kept
            self._db.execute("ALTER TABLE journal ADD COLUMN unknown INTEGER NOT NULL DEFAULT 0")

    def begin(self, request: SendRequest) -> None:
        self._db.execute("INSERT OR REPLACE INTO journal (send_id, agent_sid, request, started_at) VALUES (?, ?, ?, ?)",
                         (request.send_id, self.agent_sid, request.model_dump_json(), datetime.now(UTC).isoformat()))

    def end(self, request: SendRequest) -> None:
        self._db.execute("DELETE FROM journal WHERE send_id = ? AND agent_sid = ?", (request.send_id, self.agent_sid))

    def unknown(self, request: SendRequest) -> None:
        """The send ended without knowing what Twilio made: kept for a later look-up."""
        self._db.execute("UPDATE journal SET unknown = 1 WHERE send_id = ? AND agent_sid = ?",
                         (request.send_id, self.agent_sid))

    def unfinished(self, unknown_only: bool = False) -> list[tuple[SendRequest, datetime]]:
        """Sends begun and not ended, oldest first, with when they began; `unknown_only`: only those that ended
        with an unknown outcome (not those still on their way in this process)."""
        rows = self._db.execute("SELECT request, started_at FROM journal WHERE agent_sid = ? AND unknown >= ? "
                                "ORDER BY started_at", (self.agent_sid, int(unknown_only))).fetchall()
        return [(SendRequest.model_validate_json(row[0]), datetime.fromisoformat(row[1])) for row in rows]

    def begin_reply(self, reply: Reply) -> None:
        self._db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?)",
                         (reply.send_id, self.agent_sid, reply.model_dump_json(), datetime.now(UTC).isoformat()))

    def end_reply(self, reply: Reply) -> None:
        self._db.execute("DELETE FROM replies WHERE send_id = ? AND agent_sid = ?", (reply.send_id, self.agent_sid))

    def unfinished_replies(self) -> list[Reply]:
        rows = self._db.execute("SELECT reply FROM replies WHERE agent_sid = ? ORDER BY started_at",
                                (self.agent_sid,)).fetchall()
        return [Reply.model_validate_json(row[0]) for row in rows]

    def close(self) -> None:
        self._db.close()


@dataclass(frozen=True)
class Settled:
    """What a look-up found of a send left unfinished: a sentence for the agent and, when the message had
    reached the customer, the send as it went (for the history and the watcher)."""

    sentence: str
    result: SendResult | None
    started_at: datetime
    send_id: str = ""


async def recover(service: OutboundService, journal: SendJournal, unknown_only: bool = False) -> list[Settled]:
    """Settles every send left unfinished: at start, those a crash left (all of them); while running
    (`unknown_only`), those whose outcome Twilio left unknown. One that cannot be checked now stays in the
    journal for the next look-up."""
    said = []
    for request, started_at in journal.unfinished(unknown_only):
        lead = (f"The send to {display(request.destination)} that Twilio left without an answer" if unknown_only
                else f"A send to {display(request.destination)} was interrupted when the app stopped")
        # a request given up on a moment ago (or cut off by a kill a moment ago) may still be done by Twilio:
        # "nothing" is not final yet
        if not unknown_only and (age := (datetime.now(UTC) - started_at).total_seconds()) < UNKNOWN_GRACE:
            service.unknown_since[request.send_id] = retry.now() - max(age, 0.0)
        young = retry.now() - service.unknown_since.get(request.send_id, -math.inf) < UNKNOWN_GRACE
        try:
            settled = await _settle(service, request, lead, young)
            if settled is None:  # nothing there yet: looked for again later
                if not unknown_only:
                    journal.unknown(request)
                    said.append(Settled(f"{lead} a moment ago; Twilio may still be carrying it out: it is checked "
                                        "again within a minute.", None, started_at))
                continue
            sentence, result = settled
        except OutboundError as error:
            log.warning("could not settle the unfinished send %s: %s", request.send_id, error)
            if not unknown_only:
                said.append(Settled(f"{lead} and cannot be checked now ({error}); it will be checked again at the "
                                    "next send.", None, started_at))
            continue
        said.append(Settled(sentence, result, started_at, request.send_id))
        journal.end(request)
    return said


async def recover_replies(gateway: TwilioGateway, journal: SendJournal) -> tuple[list[str], dict[str, str]]:
    """Settles every reply a crash left unfinished: one sentence each, and the drafts given back (by
    conversation) for the replies that did not go. One that cannot be checked now stays for the next start."""
    said, drafts = [], {}
    for reply in journal.unfinished_replies():
        who = display(reply.customer)
        try:
            landed = await gateway.find_message(reply.conversation_sid, reply.send_id)
        except OutboundError as error:
            log.warning("could not settle the interrupted reply %s: %s", reply.send_id, error)
            said.append(f"A reply to {who} was interrupted when the app stopped and cannot be checked now "
                        f"({error}); it will be checked at the next start.")
            continue
        if landed:
            said.append(f"A reply to {who} was interrupted when the app stopped; it had reached the conversation.")
        elif reply.template:
            said.append(f"A reply to {who} was interrupted when the app stopped; it did not go. Send the template "
                        "again from the chat.")
        else:
            drafts[reply.conversation_sid] = reply.body
            said.append(f"A reply to {who} was interrupted when the app stopped; it did not go, and it is back in "
                        "the chat's reply box.")
        journal.end_reply(reply)
    return said, drafts


async def _settle(service: OutboundService, request: SendRequest, lead: str,
                  young: bool = False) -> tuple[str, SendResult | None] | None:
    """What Twilio made of the send, in a sentence, and the send when its message went out. `young`: Twilio may
    still be doing it, so only a message found settles it (None: nothing to say or do yet)."""
    gateway = service.gateway
    conversation_sid = await gateway.find_conversation(request.address, request.proxy_address)
    if conversation_sid is None:
        return None if young else (f"{lead}; nothing reached the customer.", None)
    if message_sid := await gateway.find_message(conversation_sid, request.send_id):
        tasks = await gateway.live_tasks(conversation_sid)
        task = tasks[0] if tasks else None
        result = SendResult(request=request, conversation_sid=conversation_sid, message_sid=message_sid,
                            task_sid=task.sid if task else None,
                            interaction_sid=task.attributes.get("flexInteractionSid") if task else None)
        if request.mode is SendMode.OPEN_CHAT:
            return f"{lead}; the message had reached the customer, in your chat.", result
        await gateway.set_attributes(conversation_sid, service.conversation_attributes(request))
        if not tasks and not await gateway.has_studio_webhook(conversation_sid):
            await gateway.add_studio_webhook(conversation_sid)
        return f"{lead}; the message had reached the customer and their reply has its route.", result
    if young:
        return None
    if await gateway.message_sids(conversation_sid):
        if request.mode is SendMode.OPEN_CHAT:
            # an open chat goes ahead only into a conversation without a live task: any task now is this send's
            for task in await gateway.live_tasks(conversation_sid):
                await gateway.cancel_task(task.sid)
        return f"{lead}; nothing reached the customer (their open conversation is left as it was).", None
    await _remove_empty(service, conversation_sid)
    return f"{lead}; nothing reached the customer, and the empty conversation it had opened was removed.", None


async def _remove_empty(service: OutboundService, conversation_sid: str) -> None:
    """An empty conversation blocks the next send to this customer: close the chat Flex made for it, else
    delete it."""
    gateway = service.gateway
    for task in await gateway.live_tasks(conversation_sid):
        interaction_sid = task.attributes.get("flexInteractionSid")
        channel_sid = task.attributes.get("flexInteractionChannelSid")
        if interaction_sid and channel_sid:
            await gateway.close_interaction(CreatedInteraction(interaction_sid=interaction_sid, channel_sid=channel_sid,
                                                               conversation_sid=conversation_sid, task_sid=task.sid))
            return
    await gateway.delete_conversation(conversation_sid)
