"""The session's live status against the simulator over real HTTP: sends recorded and followed, tasks
offered to the agent accepted or rejected, and the history and its watchers surviving a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.errors import TwilioError
from core.events import CustomerReplied, StatusEvent, TaskStatusChanged
from core.history import SendRecord
from core.session import Session, open_session
from sim.server import Simulator
from sim.world import SimConfig
from tests.live import advance_until, sim_watcher
from tests.outbound_fixtures import ALICE, SMS_SENDER, settings_for

BOB_NAME = "Bob Martinez"


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(manual_clock=True, random_seed=1234, customer_reply_delay=2.0, delivery_delay=0.5,
                     reservation_timeout=30.0)


def payload(mode: str, destination: str = "+1 415 555 0100") -> dict[str, Any]:
    return {"destination": destination, "callerId": SMS_SENDER, "body": f"Hello ({mode})",
            "openChat": mode == "open_chat", "routeToMe": mode == "wait_me"}


class Seen:
    """What the session's listener received."""

    def __init__(self, session: Session) -> None:
        self.updates: list[tuple[SendRecord, StatusEvent]] = []
        session.subscribe(lambda record, event: self.updates.append((record, event)))

    def offers(self, session: Session) -> list[TaskStatusChanged]:
        return [e for _, e in self.updates if session.offered_to_me(e)]  # type: ignore[misc]

    def tasks(self) -> list[tuple[str, str | None]]:
        return [(e.status, e.worker_name) for _, e in self.updates if isinstance(e, TaskStatusChanged)]


def session_for(sim: Simulator, tmp_path: Path, history: Path | None = None,  # type: ignore[no-untyped-def]
                auto_accept: bool = False):
    """A session whose open chats wait for an answer like any offer (auto_accept: as `[ui]` defaults)."""
    settings = settings_for(sim, tmp_path, ui={"auto_accept_own_chats": auto_accept})
    return open_session(settings, history_path=history or tmp_path / "history.sqlite3", watcher=sim_watcher(sim))


async def test_a_send_is_recorded_and_its_life_reaches_the_listener(sim: Simulator, tmp_path: Path) -> None:
    async with session_for(sim, tmp_path) as session:
        seen = Seen(session)
        result = await session.send(payload("wait_me"))
        await advance_until(sim, lambda: bool(seen.offers(session)))

        record = session.history.get(result.message_sid)
        assert record is not None and record.state == "task offered to you"
        kinds = [getattr(e, "status", getattr(e, "kind", e.type)) for _, e in seen.updates]
        assert kinds[:2] == ["created", "queued"] and "delivered" in kinds and "customer_replied" in kinds
        assert kinds.index("delivered") < kinds.index("customer_replied") < kinds.index("reserved")
        assert [r.message_sid for r in session.history.sends()] == [result.message_sid]


async def test_accepting_an_offer_assigns_the_task_to_me(sim: Simulator, tmp_path: Path) -> None:
    async with session_for(sim, tmp_path) as session:
        seen = Seen(session)
        await session.send(payload("open_chat"))
        await advance_until(sim, lambda: bool(seen.offers(session)))

        await session.answer_offer(seen.offers(session)[0], accept=True)
        await advance_until(sim, lambda: ("assigned", "Alice Johnson") in seen.tasks())
        task = sim.world.taskrouter.tasks[seen.offers(session)[0].task_sid]
        assert task.assignment_status == "assigned"


async def test_an_open_chat_i_start_is_accepted_for_me(sim: Simulator, tmp_path: Path) -> None:
    async with session_for(sim, tmp_path, auto_accept=True) as session:
        seen = Seen(session)
        sent = await session.send(payload("open_chat"))
        await advance_until(sim, lambda: ("assigned", "Alice Johnson") in seen.tasks())
        assert sim.world.taskrouter.tasks[sent.task_sid].assignment_status == "assigned"
        assert session.offers == {}  # never an offer waiting for a key
        assert not seen.offers(session) or all(o.task_sid == sent.task_sid for o in seen.offers(session))


async def test_rejecting_an_offer_sends_the_task_to_another_agent(sim: Simulator, tmp_path: Path) -> None:
    async with session_for(sim, tmp_path) as session:
        seen = Seen(session)
        await session.send(payload("wait_any"))  # Alice has been idle longest: offered to her first
        await advance_until(sim, lambda: bool(seen.offers(session)))

        await session.answer_offer(seen.offers(session)[0], accept=False)
        # Still "reserved", now for someone else: reported even though the status did not change.
        await advance_until(sim, lambda: any(s == "reserved" and w not in (None, "Alice Johnson")
                                             for s, w in seen.tasks()))
        assert seen.tasks()[0] == ("reserved", "Alice Johnson")


async def test_an_offer_that_timed_out_cannot_be_accepted_and_says_why(sim: Simulator, tmp_path: Path) -> None:
    async with session_for(sim, tmp_path) as session:
        seen = Seen(session)
        await session.send(payload("open_chat"))
        await advance_until(sim, lambda: bool(seen.offers(session)))
        offer = seen.offers(session)[0]
        sim.world.clock.advance(31)  # past the reservation's timeout

        with pytest.raises(TwilioError, match="no longer offered to you: its reservation is timeout"):
            await session.answer_offer(offer, accept=True)


async def test_after_a_restart_the_history_is_there_and_following_resumes(sim: Simulator, tmp_path: Path) -> None:
    history = tmp_path / "history.sqlite3"
    async with session_for(sim, tmp_path, history) as session:
        seen = Seen(session)
        result = await session.send(payload("wait_any", "+1 415 555 0102"))
        await advance_until(sim, lambda: any(e.type == "message_status" and e.status == "delivered"  # type: ignore[union-attr]
                                             for _, e in seen.updates))
        before = session.history.timeline(result.message_sid)
    assert not any(isinstance(e, CustomerReplied) for e in before)

    async with session_for(sim, tmp_path, history) as session:
        assert session.watcher.following == [result.conversation_sid]
        seen = Seen(session)
        await advance_until(sim, lambda: any(isinstance(e, TaskStatusChanged) for _, e in seen.updates))
        after = session.history.timeline(result.message_sid)
        assert after[:len(before)] == before  # what was known is kept, in order
        new = [e for _, e in seen.updates]
        assert not any(e.type in ("conversation", "message_status") for e in new)  # nothing reported twice
        assert any(isinstance(e, CustomerReplied) for e in new)


async def test_two_agents_share_a_history_file_but_see_only_their_own_sends(sim: Simulator, tmp_path: Path) -> None:
    history = tmp_path / "history.sqlite3"
    async with session_for(sim, tmp_path, history) as alice:
        await alice.send(payload("wait_any"))
    bob_settings = settings_for(sim, tmp_path, identity="bob@example.com")
    async with open_session(bob_settings, history_path=history, watcher=sim_watcher(sim)) as bob:
        assert bob.agent.sid != ALICE.sid
        assert bob.history.sends() == [] and bob.watcher.following == []


async def test_an_offer_open_at_exit_is_still_offered_after_a_restart(sim: Simulator, tmp_path: Path) -> None:
    history = tmp_path / "history.sqlite3"
    async with session_for(sim, tmp_path, history) as session:
        seen = Seen(session)
        await session.send(payload("open_chat"))
        await advance_until(sim, lambda: bool(session.offers))
        offer = session.offer()
        assert offer is not None and offer == seen.offers(session)[0]

    async with session_for(sim, tmp_path, history) as session:
        assert session.offer() == offer == session.offer(offer.conversation_sid)
        assert session.offer("CH" + "0" * 32) is None
        await session.answer_offer(offer, accept=True)
        assert session.offers == {}  # answered: no longer an offer, before the watcher even sees it
        assert sim.world.taskrouter.tasks[offer.task_sid].assignment_status == "assigned"
