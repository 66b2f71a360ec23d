"""A send whose outcome Twilio leaves unknown (issue 13, 1): a create committed whose answer is lost, and the
look-ups that would tell what it made failing too. The screen must not claim nothing reached the customer, and
the send stays in the journal until a look-up settles it — at the next send, a little later, or the next start —
so no orphan conversation is left to swallow the customer's later messages."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.errors import SendFailed
from core.session import open_session
from sim.server import Simulator
from tests.outbound_fixtures import JANE, MESSAGES, SMS_SENDER, settings_for
from tests.test_crash_recovery import age_journal

CWP, INTERACTIONS = "/v1/ConversationWithParticipants", "/v1/Interactions"
LOOKUP = "/v1/ParticipantConversations"


def payload(mode: str, body: str) -> dict[str, object]:
    return {"destination": JANE.address, "callerId": SMS_SENDER, "body": body,
            "openChat": mode == "open_chat", "routeToMe": mode == "wait_me"}


def janes(sim: Simulator) -> list:  # type: ignore[type-arg]
    return [c for c in sim.world.conversations.conversations.values()
            if c.state == "active" and c.customer is not None and c.customer.address == JANE.address]


CASES = [  # (mode, the create whose answer is lost, the look-up that fails, whether the message went)
    ("wait_me", CWP, LOOKUP, False),
    ("wait_any", CWP, LOOKUP, False),
    ("open_chat", INTERACTIONS, LOOKUP, False),
    ("wait_me", MESSAGES, MESSAGES, True),
    ("open_chat", MESSAGES, MESSAGES, True),
]


@pytest.mark.parametrize(("mode", "create", "lookup", "went"), CASES)
async def test_an_unknown_outcome_is_said_kept_and_settled_at_the_next_send(
        sim: Simulator, tmp_path: Path, mode: str, create: str, lookup: str, went: bool) -> None:
    async with open_session(settings_for(sim, tmp_path), history_path=tmp_path / "h.sqlite3") as session:
        settled: list[str] = []
        session.subscribe_settled(lambda found: settled.append(found.sentence))
        sim.fault(create, method="POST", kind="drop")  # Twilio does it; its answer is lost
        sim.fault(lookup, method="GET", status=503, times=None)  # and every look-up fails

        with pytest.raises(SendFailed) as failed:
            await session.send(payload(mode, "First"))
        assert failed.value.reached_customer is (None if went else False)  # the message was not posted
        assert not failed.value.checked and "Nothing reached the customer" not in str(failed.value)
        assert session.journal is not None and len(session.journal.unfinished(unknown_only=True)) == 1

        sim.world.faults.clear()  # Twilio answers again: the next send settles the first one before it goes
        second = await session.send(payload("wait_any", "Second"))

        assert len(settled) == 1 and settled[0].startswith("The send to +1 415-555-0100 that Twilio left without")
        assert session.journal.unfinished() == []
        [conversation] = janes(sim)  # no orphan beside the one in use
        assert conversation.sid == second.conversation_sid
        bodies = [m.body for m in conversation.messages if m.author != JANE.address]
        assert bodies == (["First", "Second"] if went else ["Second"])
        assert any(w.target == "studio" for w in conversation.webhooks.values()) or mode == "open_chat" and went
        sent = [r.result.request.body for r in session.history.sends()]
        assert sent == (["Second", "First"] if went else ["Second"])  # a send found joins the history


async def test_an_unknown_outcome_is_settled_a_little_later_without_another_send(
        sim: Simulator, tmp_path: Path) -> None:
    async with open_session(settings_for(sim, tmp_path), history_path=tmp_path / "h.sqlite3") as session:
        settled: list[str] = []
        session.subscribe_settled(lambda found: settled.append(found.sentence))
        sim.fault(CWP, method="POST", kind="drop")
        sim.fault(LOOKUP, method="GET", status=503, times=None)
        with pytest.raises(SendFailed):
            await session.send(payload("wait_me", "First"))
        await asyncio.sleep(session.settle_after * 3)  # still failing: kept, looked up again later
        assert settled == [] and janes(sim) != []

        sim.world.faults.clear()
        await asyncio.sleep(session.settle_after * 4)  # the next look-up (virtual time)
        assert settled == ["The send to +1 415-555-0100 that Twilio left without an answer; nothing reached the "
                           "customer, and the empty conversation it had opened was removed."]
        assert janes(sim) == [] and session.journal is not None and session.journal.unfinished() == []


async def test_an_unknown_outcome_left_at_exit_is_settled_at_the_next_start(sim: Simulator, tmp_path: Path) -> None:
    async with open_session(settings_for(sim, tmp_path), history_path=tmp_path / "h.sqlite3") as session:
        sim.fault(CWP, method="POST", kind="drop")
        sim.fault(LOOKUP, method="GET", status=503, times=None)
        with pytest.raises(SendFailed):
            await session.send(payload("wait_me", "First"))
    sim.world.faults.clear()
    age_journal(tmp_path / "h.sqlite3")  # the next start, two minutes on

    async with open_session(settings_for(sim, tmp_path), history_path=tmp_path / "h.sqlite3") as session:
        assert session.recovered == ["A send to +1 415-555-0100 was interrupted when the app stopped; nothing "
                                     "reached the customer, and the empty conversation it had opened was removed."]
    assert janes(sim) == []


@pytest.mark.parametrize(("step", "reused"), [(CWP, False), (MESSAGES, True)])
async def test_a_request_given_up_on_that_twilio_carries_out_later_is_settled_once_it_has(
        sim: Simulator, tmp_path: Path, step: str, reused: bool) -> None:
    async with open_session(settings_for(sim, tmp_path), history_path=tmp_path / "h.sqlite3") as session:
        settled: list[str] = []
        session.subscribe_settled(lambda found: settled.append(found.sentence))
        if reused:
            await session.send(payload("wait_any", "Earlier"))  # the conversation exists: the post has nothing to undo
        sim.fault(step, method="POST", kind="timeout", hang=28.0)  # done at 28 s: after the deadline and the look
        with pytest.raises(SendFailed) as failed:
            await session.send(payload("wait_me", "Late"))
        assert "Nothing reached the customer" not in str(failed.value) and not failed.value.checked
        await asyncio.sleep(150)  # (virtual) the look-ups a little later: the first ones still too early
        [said] = settled
        if reused:  # the message landed at 28 s: it was sent, and joins the history
            assert said.endswith("the message had reached the customer and their reply has its route.")
            assert [r.result.request.body for r in session.history.sends()] == ["Late", "Earlier"]
        else:  # the conversation made at 28 s held nothing: removed, not left to swallow the customer's messages
            assert said.endswith("the empty conversation it had opened was removed.")
            assert janes(sim) == []
        assert session.journal is not None and session.journal.unfinished() == []
