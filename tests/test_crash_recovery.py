"""kill -9 in the middle of a send, then the next start: every unfinished send is settled from Twilio's state —
kept (with its reply route) when the message had landed, cleaned up when it had not — and the agent is told.

The sending process is a real child process killed with SIGKILL while the simulator holds one of its
requests (a `timeout` fault: held, then done, as Twilio does with a request whose client vanished)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.journal import SendJournal
from core.models import Reply
from core.session import open_session
from sim.server import Simulator
from sim.world import SimConfig
from tests.outbound_fixtures import JANE, SMS_SENDER, settings_for
from tests.test_fault_matrix import NthFault

pytestmark = pytest.mark.real_time  # child processes killed with -9 live in real time

HANG = 1.0  # seconds the simulator holds the request the child dies waiting for
CHILD = """
import asyncio, json, sys
from pathlib import Path
from core.session import open_session
from tests.outbound_fixtures import settings_for_url

args = json.loads(sys.argv[1])

async def main():
    settings = settings_for_url(args["base_url"], Path(args["tmp"]))
    async with open_session(settings, history_path=args["history"]) as session:
        await session.send(args["payload"])

asyncio.run(main())
"""
REPLYING = """
import asyncio, json, sys
from pathlib import Path
from core.session import open_session
from tests.outbound_fixtures import settings_for_url

args = json.loads(sys.argv[1])

async def main():
    settings = settings_for_url(args["base_url"], Path(args["tmp"]))
    async with open_session(settings, history_path=args["history"]) as session:
        [chat] = await session.chats.my_chats()
        await session.chats.reply(chat, args["payload"]["body"])

asyncio.run(main())
"""
CWP, INTERACTIONS = "/v1/ConversationWithParticipants", "/v1/Interactions"
MESSAGES, WEBHOOKS = r"/v1/Conversations/CH[0-9a-f]+/Messages$", r"/v1/Conversations/CH[0-9a-f]+/Webhooks$"
UPDATE = r"/v1/Conversations/CH[0-9a-f]+$"  # the routing attributes of an existing conversation


@pytest.fixture
def sim_config() -> SimConfig:
    # real time: the child process and the simulator's hang run on the wall clock; the customer never answers
    return SimConfig(random_seed=1234, customer_reply_delay=600.0, delivery_delay=0.05)


def payload(mode: str, body: str = "Hello from a process about to die") -> dict[str, object]:
    return {"destination": JANE.address, "callerId": SMS_SENDER, "body": body,
            "openChat": mode == "open_chat", "routeToMe": mode == "wait_me"}


def age_journal(path: Path, seconds: float = 120.0) -> None:
    """The next start comes `seconds` after the sends in flight began: past the grace in which Twilio may still
    be carrying out a request the kill cut off."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT send_id, started_at FROM journal").fetchall()
        for send_id, started_at in rows:
            db.execute("UPDATE journal SET started_at = ? WHERE send_id = ?",
                       ((datetime.fromisoformat(started_at) - timedelta(seconds=seconds)).isoformat(), send_id))


async def send_and_kill(sim: Simulator, tmp_path: Path, mode: str, step: str, skip: int = 0,
                        child_code: str = CHILD, age: float = 120.0) -> None:
    """A child process sends (or replies, with `child_code` REPLYING); it is killed with SIGKILL once the
    simulator holds its request to `step` (after letting `skip` such requests through)."""
    sim.world.faults.add(NthFault(step, skip, method="POST", kind="timeout", hang=HANG, times=1))
    args = json.dumps({"base_url": sim.base_url, "tmp": str(tmp_path), "history": str(tmp_path / "h.sqlite3"),
                       "payload": payload(mode)})
    child = subprocess.Popen([sys.executable, "-c", child_code, args], cwd=Path(__file__).parent.parent,
                             stdout=subprocess.DEVNULL, env={**os.environ})
    try:
        beside = MESSAGES if step == WEBHOOKS else None  # the message goes out beside the held reply route
        for _ in range(400):
            await asyncio.sleep(0.025)
            if any(e.method == "POST" and _matches(step, e.path) and e.fault == "timeout" and e.status is None
                   for e in sim.world.log) and (beside is None or any(
                       e.method == "POST" and _matches(beside, e.path) and e.status is not None for e in sim.world.log)):
                break
        else:
            pytest.fail(f"the child never reached {step}")
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    for _ in range(400):  # the held request is done meanwhile, as Twilio would do it
        if not any(e.fault == "timeout" and e.status is None for e in sim.world.log):
            age_journal(tmp_path / "h.sqlite3", age)
            return
        await asyncio.sleep(0.025)
    pytest.fail("the simulator never finished the request it held")


def _matches(pattern: str, path: str) -> bool:
    return re.search(pattern, path) is not None


def janes_sms_conversations(sim: Simulator) -> list:  # type: ignore[type-arg]
    return [c for c in sim.world.conversations.conversations.values()
            if c.state == "active" and c.customer is not None and c.customer.address == JANE.address]


def ours(conversation) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.body for m in conversation.messages if m.author != JANE.address]


@pytest.mark.parametrize(("mode", "step", "reached"), [
    ("wait_me", CWP, False),
    ("wait_me", WEBHOOKS, True),  # the message goes out beside it
    ("wait_me", MESSAGES, True),
    ("wait_any", CWP, False),
    ("wait_any", WEBHOOKS, True),
    ("wait_any", MESSAGES, True),
    ("open_chat", INTERACTIONS, False),
    ("open_chat", MESSAGES, True),
])
async def test_a_send_killed_at_each_step_is_settled_at_the_next_start(
        sim: Simulator, tmp_path: Path, mode: str, step: str, reached: bool) -> None:
    await send_and_kill(sim, tmp_path, mode, step)

    async with open_session(settings_for(sim, tmp_path), history_path=tmp_path / "h.sqlite3") as session:
        assert len(session.recovered) == 1
        said = session.recovered[0]
        sends = session.history.sends()  # one that went out joins "My outbound messages" (F4) and is followed
        assert [r.result.request.body for r in sends] == (["Hello from a process about to die"] if reached else [])
        assert session.watcher.following == [r.result.conversation_sid for r in sends]
        if reached:  # its timeline starts where the send did, as any send's
            first = session.history.timeline(sends[0].message_sid)[:2]
            assert [getattr(e, "kind", getattr(e, "status", None)) for e in first] == ["created", "queued"]
            assert first[0].at == sends[0].sent_at
    assert said.startswith("A send to +1 415-555-0100 was interrupted when the app stopped")
    active = janes_sms_conversations(sim)
    if reached:
        assert "the message had reached the customer" in said
        assert len(active) == 1 and ours(active[0]) == ["Hello from a process about to die"]  # exactly once
        if mode != "open_chat":
            assert any(w.target == "studio" for w in active[0].webhooks.values())  # a reply has its route
    else:
        assert "nothing reached the customer" in said
        assert active == [] or all(ours(c) for c in active)  # no empty conversation left to block the next send

    async with open_session(settings_for(sim, tmp_path), history_path=tmp_path / "h.sqlite3") as session:
        assert session.recovered == []  # settled once, not at every start


@pytest.mark.parametrize(("mode", "step", "skip", "reached"), [
    ("wait_me", UPDATE, 0, False),
    ("wait_me", MESSAGES, 0, True),
    ("wait_any", MESSAGES, 0, True),
    ("open_chat", INTERACTIONS, 1, False),  # the second create: the chat task on the existing conversation
    ("open_chat", MESSAGES, 0, True),
])
async def test_a_send_into_an_existing_conversation_killed_at_each_step_is_settled(
        sim: Simulator, tmp_path: Path, mode: str, step: str, skip: int, reached: bool) -> None:
    async with open_session(settings_for(sim, tmp_path), history_path=tmp_path / "h.sqlite3") as session:
        await session.send(payload("wait_any", "the first message"))  # no reply comes: no task, a route
    await send_and_kill(sim, tmp_path, mode, step, skip)

    async with open_session(settings_for(sim, tmp_path), history_path=tmp_path / "h.sqlite3") as session:
        [said] = session.recovered
    [conversation] = janes_sms_conversations(sim)
    if reached:
        assert "the message had reached the customer" in said
        assert ours(conversation) == ["the first message", "Hello from a process about to die"]
    else:
        assert said.endswith("nothing reached the customer (their open conversation is left as it was).")
        assert ours(conversation) == ["the first message"]
        live = [t for t in sim.world.taskrouter.tasks.values()
                if t.assignment_status in ("pending", "reserved", "assigned")]
        assert live == []  # no chat task left behind without its message


async def janes_chat(sim: Simulator, tmp_path: Path) -> str:
    """An open chat to Jane, accepted: its conversation."""
    async with open_session(settings_for(sim, tmp_path), history_path=tmp_path / "h.sqlite3") as session:
        sent = await session.send(payload("open_chat", "Hello Jane"))
        holder = await session.gateway.task_holder(sent.task_sid or "")
        assert holder is not None
        await session.gateway.answer_reservation(sent.task_sid or "", holder.reservation_sid, accept=True)
        return sent.conversation_sid


async def test_a_reply_killed_on_its_way_is_found_at_the_next_start_not_posted_again(
        sim: Simulator, tmp_path: Path) -> None:
    conversation_sid = await janes_chat(sim, tmp_path)
    await send_and_kill(sim, tmp_path, "wait_me", MESSAGES, child_code=REPLYING)

    async with open_session(settings_for(sim, tmp_path), history_path=tmp_path / "h.sqlite3") as session:
        assert session.recovered == ["A reply to +1 415-555-0100 was interrupted when the app stopped; it had "
                                     "reached the conversation."]
        assert session.drafts == {}
    [conversation] = janes_sms_conversations(sim)
    assert conversation.sid == conversation_sid
    assert ours(conversation) == ["Hello Jane", "Hello from a process about to die"]  # exactly once


async def test_a_reply_that_had_not_gone_when_the_app_died_is_back_in_its_chats_reply_box(
        sim: Simulator, tmp_path: Path) -> None:
    conversation_sid = await janes_chat(sim, tmp_path)
    async with open_session(settings_for(sim, tmp_path), history_path=tmp_path / "h.sqlite3") as session:
        agent_sid = session.agent.sid
    journal = SendJournal(tmp_path / "h.sqlite3", agent_sid)  # what a kill before the post leaves
    journal.begin_reply(Reply(send_id="a" * 32, conversation_sid=conversation_sid, customer=JANE.address,
                              body="Not yet sent"))
    journal.close()

    async with open_session(settings_for(sim, tmp_path), history_path=tmp_path / "h.sqlite3") as session:
        assert session.recovered == ["A reply to +1 415-555-0100 was interrupted when the app stopped; it did "
                                     "not go, and it is back in the chat's reply box."]
        assert session.drafts == {conversation_sid: "Not yet sent"}
    [conversation] = janes_sms_conversations(sim)
    assert ours(conversation) == ["Hello Jane"]
    async with open_session(settings_for(sim, tmp_path), history_path=tmp_path / "h.sqlite3") as session:
        assert session.recovered == []  # settled once


async def test_a_send_cut_off_a_moment_ago_is_not_declared_lost_at_once(sim: Simulator, tmp_path: Path) -> None:
    async with open_session(settings_for(sim, tmp_path), history_path=tmp_path / "h.sqlite3") as session:
        await session.send(payload("wait_any", "the first message"))
    await send_and_kill(sim, tmp_path, "wait_me", MESSAGES, age=0.0)  # restarted at once
    conversation = janes_sms_conversations(sim)[0]
    conversation.messages[:] = [m for m in conversation.messages if m.body != "Hello from a process about to die"]
    # (as if Twilio had not carried the post out yet: it still may)

    async with open_session(settings_for(sim, tmp_path), history_path=tmp_path / "h.sqlite3") as session:
        [said] = session.recovered
        assert said.endswith("a moment ago; Twilio may still be carrying it out: it is checked again within a "
                             "minute.")
        assert "nothing reached" not in said
        assert session.journal is not None and len(session.journal.unfinished(unknown_only=True)) == 1
