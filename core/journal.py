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

import asyncio
import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from core.errors import OutboundError
from core.gateway import CreatedInteraction, TwilioGateway
from core.models import Reply, SendMode, SendRequest
from core.outbound import OutboundService
from core.phone import display

log = logging.getLogger("outbound_panel.journal")

_SCHEMA = """CREATE TABLE IF NOT EXISTS journal (
    send_id TEXT PRIMARY KEY, agent_sid TEXT NOT NULL, request TEXT NOT NULL, started_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS replies (
    send_id TEXT PRIMARY KEY, agent_sid TEXT NOT NULL, reply TEXT NOT NULL, started_at TEXT NOT NULL)"""


class SendJournal:
    """Sends of one agent begun and not yet ended, in SQLite (autocommit: each line is on disk when it returns)."""

    def __init__(self, path: Path | str, agent_sid: str) -> None:
        self.agent_sid = agent_sid
        if str(path) != ":memory:":
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=5.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def begin(self, request: SendRequest) -> None:
        self._db.execute("INSERT OR REPLACE INTO journal VALUES (?, ?, ?, ?)",
                         (request.send_id, self.agent_sid, request.model_dump_json(), datetime.now(UTC).isoformat()))

    def end(self, request: SendRequest) -> None:
        self._db.execute("DELETE FROM journal WHERE send_id = ? AND agent_sid = ?", (request.send_id, self.agent_sid))

    def unfinished(self) -> list[SendRequest]:
        rows = self._db.execute("SELECT request FROM journal WHERE agent_sid = ? ORDER BY started_at",
                                (self.agent_sid,)).fetchall()
        return [SendRequest.model_validate_json(row[0]) for row in rows]

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


async def recover(service: OutboundService, journal: SendJournal) -> list[str]:
    """Settles every send a crash left unfinished; one sentence each for the agent. A send that cannot be
    checked now (Twilio unreachable) stays in the journal for the next start."""
    said = []
    for request in journal.unfinished():
        try:
            said.append(await _settle(service, request))
        except OutboundError as error:
            log.warning("could not settle the interrupted send %s: %s", request.send_id, error)
            said.append(f"A send to {display(request.destination)} was interrupted when the app stopped and cannot "
                        f"be checked now ({error}); it will be checked at the next start.")
            continue
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


async def _settle(service: OutboundService, request: SendRequest) -> str:
    gateway, who = service.gateway, display(request.destination)
    interrupted = f"A send to {who} was interrupted when the app stopped"
    conversation_sid = await gateway.find_conversation(request.address, request.proxy_address)
    if conversation_sid is None:
        return f"{interrupted}; nothing reached the customer."
    if await gateway.find_message(conversation_sid, request.send_id):
        if request.mode is SendMode.OPEN_CHAT:
            return f"{interrupted}; the message had reached the customer, in your chat."
        tasks, has_route = await asyncio.gather(gateway.live_tasks(conversation_sid),
                                                gateway.has_studio_webhook(conversation_sid))
        await gateway.set_attributes(conversation_sid, service.conversation_attributes(request))
        if not tasks and not has_route:
            await gateway.add_studio_webhook(conversation_sid)
        return f"{interrupted}; the message had reached the customer and their reply has its route."
    if await gateway.message_sids(conversation_sid):
        if request.mode is SendMode.OPEN_CHAT:
            # an open chat goes ahead only into a conversation without a live task: any task now is this send's
            for task in await gateway.live_tasks(conversation_sid):
                await gateway.cancel_task(task.sid)
        return f"{interrupted}; nothing reached the customer (their open conversation is left as it was)."
    await _remove_empty(service, conversation_sid)
    return f"{interrupted}; nothing reached the customer, and the empty conversation it had opened was removed."


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
