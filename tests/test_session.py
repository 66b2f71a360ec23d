"""Session: what the TUI holds — the agent and their live activity, sends through the action bus,
and live draft checks — against the simulator over real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from twilio.rest import Client

from core.actions import SEND_OUTBOUND_MESSAGE, SendOutboundMessagePayload
from core.errors import InvalidSend, NotFound
from core.models import SendMode, SendResult
from core.rules import check_send
from core.session import Session, open_session
from core.settings import Settings
from sim import seed
from sim.server import Simulator
from tests.outbound_fixtures import (
    ALICE,
    DAVE,
    JANE,
    SMS_SENDER,
    WS,
    messages_in,
    project_settings,
    receipt_statuses,
    settings_for,
    twilio_requests,
)

ACTIVITY_NAMES = [a.name for a in seed.ACTIVITIES]  # Offline, Available, Unavailable, Break
SEED_PAYLOAD = {"destination": "+1 415 555 0100", "callerId": SMS_SENDER, "body": "Hello from the session",
                "contentTemplateSid": None, "openChat": False, "routeToMe": True}


async def worker_activity(client: Client, worker_sid: str) -> str:
    worker = await client.taskrouter.v1.workspaces(WS).workers(worker_sid).fetch_async()
    return worker.activity_name


# == signing in ====================================================================================


async def test_open_session_signs_in_the_seeded_agent(sim: Simulator, tmp_path: Path) -> None:
    async with open_session(settings_for(sim, tmp_path)) as session:
        assert isinstance(session, Session)
        agent = session.agent
        assert (agent.sid, agent.full_name, agent.activity_name, agent.available) == \
            (ALICE.sid, "Alice Johnson", "Available", True)
        assert session.service.agent is agent  # the service sends as the session's agent
        http = session.gateway.client.http_client
    assert http.session is None or http.session.closed  # type: ignore[attr-defined]


async def test_open_session_for_an_unknown_agent_says_so_and_closes_the_client(sim: Simulator, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="nobody@example.com"):
        async with open_session(settings_for(sim, tmp_path, identity="nobody@example.com")):
            pytest.fail("no session without a worker")


# == activity ======================================================================================


async def test_become_available_moves_an_offline_agent_to_available(
    sim: Simulator, client: Client, tmp_path: Path
) -> None:
    async with open_session(settings_for(sim, tmp_path, identity=DAVE.friendly_name)) as session:
        assert (session.agent.activity_name, session.agent.available) == ("Offline", False)
        agent = await session.become_available()
        assert (agent.sid, agent.activity_name, agent.available) == (DAVE.sid, "Available", True)
        assert session.agent == agent and session.service.agent == agent
    assert await worker_activity(client, DAVE.sid) == "Available"
    [update] = [e for e in twilio_requests(sim) if e.method == "POST"]
    assert update.path == f"/v1/Workspaces/{WS}/Workers/{DAVE.sid}"
    assert update.param("ActivitySid") == seed.AVAILABLE.sid


async def test_become_available_without_an_activity_named_available_takes_the_first_that_takes_tasks(
    sim: Simulator, client: Client, tmp_path: Path
) -> None:
    activities = sim.world.taskrouter.activities
    activities[seed.AVAILABLE.sid].friendly_name = "Ready"
    activities[seed.BREAK.sid].available = True  # listed after Ready: not chosen
    async with open_session(settings_for(sim, tmp_path, identity=DAVE.friendly_name)) as session:
        agent = await session.become_available()
    assert (agent.activity_name, agent.available) == ("Ready", True)
    assert await worker_activity(client, DAVE.sid) == "Ready"


async def test_become_available_prefers_available_to_an_earlier_activity_that_takes_tasks(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.world.taskrouter.activities[seed.OFFLINE.sid].available = True  # listed first
    async with open_session(settings_for(sim, tmp_path, identity=DAVE.friendly_name)) as session:
        assert (await session.become_available()).activity_name == "Available"


async def test_become_available_in_a_workspace_without_such_an_activity_says_so(sim: Simulator, tmp_path: Path) -> None:
    for activity in sim.world.taskrouter.activities.values():
        activity.available = False
    async with open_session(settings_for(sim, tmp_path, identity=DAVE.friendly_name)) as session:
        with pytest.raises(NotFound, match="no activity in which an agent takes tasks"):
            await session.become_available()
        assert session.agent.activity_name == "Offline"
    assert not [e for e in twilio_requests(sim) if e.method == "POST"]


async def test_set_activity_by_name_ignores_case(sim: Simulator, client: Client, tmp_path: Path) -> None:
    async with open_session(settings_for(sim, tmp_path)) as session:
        agent = await session.set_activity(" break ")
        assert (agent.activity_name, agent.available) == ("Break", False)
        assert session.agent.activity_name == "Break"
    assert await worker_activity(client, ALICE.sid) == "Break"


async def test_set_activity_with_an_unknown_name_names_the_choices_and_changes_nothing(
    sim: Simulator, client: Client, tmp_path: Path
) -> None:
    async with open_session(settings_for(sim, tmp_path)) as session:
        with pytest.raises(NotFound) as unknown:
            await session.set_activity("Lunch")
    assert str(unknown.value) == ("There is no activity named 'Lunch'; the activities are: "
                                  "Offline, Available, Unavailable, Break.")
    assert not [e for e in twilio_requests(sim) if e.method == "POST"]
    assert await worker_activity(client, ALICE.sid) == "Available"


async def test_set_activity_finds_an_activity_added_after_the_list_was_read(sim: Simulator, tmp_path: Path) -> None:
    async with open_session(settings_for(sim, tmp_path)) as session:
        assert await session.activity_names() == ACTIVITY_NAMES
        sim.world.taskrouter.activities[seed.BREAK.sid].friendly_name = "Lunch"
        assert (await session.set_activity("lunch")).activity_name == "Lunch"


async def test_activity_names_lists_the_workspace_activities(sim: Simulator, tmp_path: Path) -> None:
    async with open_session(settings_for(sim, tmp_path)) as session:
        assert await session.activity_names() == ACTIVITY_NAMES


async def test_refresh_agent_sees_an_activity_change_made_elsewhere(
    sim: Simulator, client: Client, tmp_path: Path
) -> None:
    async with open_session(settings_for(sim, tmp_path)) as session:
        assert session.agent.activity_name == "Available"
        await client.taskrouter.v1.workspaces(WS).workers(ALICE.sid).update_async(activity_sid=seed.OFFLINE.sid)
        assert session.agent.activity_name == "Available"  # nothing read yet
        agent = await session.refresh_agent()
        assert (agent.activity_name, agent.available) == ("Offline", False)
        assert session.agent == agent and session.service.agent == agent


# == sending =======================================================================================


async def test_send_with_the_seed_payload_reaches_the_customer(sim: Simulator, client: Client, tmp_path: Path) -> None:
    async with open_session(settings_for(sim, tmp_path)) as session:
        seen: list[SendResult] = []

        async def after(payload: SendOutboundMessagePayload, result: SendResult) -> None:
            seen.append(result)

        session.bus.add_listener("after", SEND_OUTBOUND_MESSAGE, after)
        result = await session.send(SEED_PAYLOAD)
    assert isinstance(result, SendResult) and result.mode is SendMode.WAIT_ME
    assert seen == [result]  # through the action bus
    [message] = await messages_in(client, result.conversation_sid)
    assert (message.body, message.author) == ("Hello from the session", "alice_40example_2Ecom")
    sim.world.clock.advance(3 * sim.world.config.delivery_delay)
    assert await receipt_statuses(client, result.conversation_sid, result.message_sid) == ["delivered"]
    participants = await client.conversations.v1.conversations(result.conversation_sid).participants.list_async()
    assert [p.messaging_binding["address"] for p in participants if p.messaging_binding] == [JANE.address]


async def test_send_reads_a_national_number_in_the_configured_region(
    sim: Simulator, client: Client, tmp_path: Path
) -> None:
    settings = settings_for(sim, tmp_path, ui={"phone_region": "GB"})
    async with open_session(settings) as session:
        result = await session.send({**SEED_PAYLOAD, "destination": "020 7946 0958"})
        with pytest.raises(InvalidSend) as refused:  # a US national number is no GB number
            await session.send({**SEED_PAYLOAD, "destination": "(415) 555-0100"})
    participants = await client.conversations.v1.conversations(result.conversation_sid).participants.list_async()
    assert [p.messaging_binding["address"] for p in participants if p.messaging_binding] == ["+442079460958"]
    assert refused.value.field == "destination"


# == live draft checks =============================================================================


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The project's settings; a draft check needs no Twilio (and no simulator)."""
    return project_settings(tmp_path)


def test_check_send_passes_a_good_draft(settings: Settings) -> None:
    assert check_send(settings, channel="sms", destination="(415) 555-0100", sender=SMS_SENDER, mode="wait_me",
                      body="Hello") is None
    assert check_send(settings, channel="whatsapp", destination="+14155550100", sender=seed.WHATSAPP_SENDERS[0],
                       body=None, content_sid=seed.TEMPLATES[0].sid, mode="open_chat") is None


@pytest.mark.parametrize(("draft", "field", "sentence"), [
    ({"destination": "+1 415 555 01"}, "destination", "+1 41555501 is not a valid phone number: it is too short."),
    ({"destination": ""}, "destination", "Type the customer's phone number."),
    ({"body": "  "}, "body", "Write a message before sending."),
    ({"sender": "+15017129999"}, "sender",
     "+1 501-712-9999 is not an SMS sender here (senders: +1 501-712-2661, +1 501-712-2662)."),
])
def test_check_send_returns_the_reason_instead_of_raising(
    settings: Settings, draft: dict[str, str], field: str, sentence: str
) -> None:
    fields = {"channel": "sms", "destination": "+14155550100", "sender": SMS_SENDER, "body": "Hello", **draft}
    error = check_send(settings, mode="wait_me", **fields)
    assert isinstance(error, InvalidSend)
    assert (error.field, str(error)) == (field, sentence)


def test_check_send_reads_national_numbers_in_the_configured_region(settings: Settings, tmp_path: Path) -> None:
    draft = {"channel": "sms", "destination": "020 7946 0958", "sender": SMS_SENDER, "body": "Hello"}
    us = check_send(settings, mode="wait_me", **draft)
    assert us is not None and us.field == "destination"
    assert check_send(project_settings(tmp_path, ui={"phone_region": "GB"}), mode="wait_me", **draft) is None
